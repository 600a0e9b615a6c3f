"""
C{--workers N}: N keepsip processes sharing the SIP port, so that every core
works.

Shape:

  - the C{twistd keepsip} process becomes a supervisor
    (L{keepsip.workers.supervisor.WorkerSupervisor}) that handles no SIP
    itself. It binds the sockets, spawns the workers and restarts the ones
    that die;
  - each worker (L{keepsip.workers.process}, C{python -m keepsip.workers})
    is a whole single-process keepsip built by L{keepsip.service.makeService}
    from its own configuration (L{keepsip.workers.settings.workerConfig}).

Why spawn fresh interpreters (C{reactor.spawnProcess}) and not C{os.fork}:
twistd has installed the reactor (an epoll descriptor, a waker pipe, signal
handlers) and begun logging before the plugin's C{makeService} runs, so a
fork there would share the epoll instance and the log file between
processes; a fresh C{python -m keepsip.workers} starts clean, can be
restarted the same way after a crash, and runs under C{twistd}, C{twist}
and daemonised twistd alike.

Sockets: the supervisor binds them all in C{privilegedStartService} (before
twistd drops privileges) and holds them for its lifetime; a worker inherits
its own as descriptors. For each worker and each C{--listen} address it binds
one C{SO_REUSEPORT} socket (the kernel spreads datagrams among them by the
hash of source and destination address, so a peer's retransmissions keep
reaching one worker), and one socket on the worker's own port
(C{--worker-ports} + i - 1) on each listen host. Because the supervisor
keeps them, a restarted worker gets the same sockets back: the same own
port (its calls' Record-Route and its transactions' Via stay right), the
same place in the C{SO_REUSEPORT} group (the other workers' peers are not
re-hashed); datagrams that arrive for it while it is down wait in its
socket's buffer. Each worker advertises its own port in Via and
Record-Route, and sends everything from it, so responses and in-dialog
requests come back to the worker that holds the transaction and the dialog.

State: the dialog store is shared where it is shared (C{redis}: each worker
is a node, named by its addresses, as several machines would be) and each
worker's own otherwise (C{sqlite}: one file per worker, C{.wN}; C{memory}:
its process). A worker restarted after a crash loads its file, resumes its
calls and ends and bills those that expired while it was down, as a
restarted single keepsip does. Accounting spools and C{jsonl} files are per
worker; the registrar's bindings live in the worker that took the REGISTER
(so C{--role edge} takes one worker). Metrics: each worker serves its own
endpoint (C{tcp:} port + i - 1); there is no aggregate.

C{--workers 1} (the default) is today's single process: no supervisor, no
own port.
"""
