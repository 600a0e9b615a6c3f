"""
keepsip's configuration.

Every option exists twice under the same name: on the command line
(C{--registrar-min-expires 60}) and as a key of the TOML file given with
C{--config} (C{registrar-min-expires = 60}).  The command line wins over the
file, option by option; a repeatable option given on the command line replaces
the file's whole list.

The modules, lower ones first:

  - L{keepsip.config.values}: the value objects (L{ListenAddress
    <keepsip.config.values.ListenAddress>}, L{Route
    <keepsip.config.values.Route>}).
  - L{keepsip.config.parsers}: one parser per kind of value, and
    L{ConfigError <keepsip.config.parsers.ConfigError>}.
  - L{keepsip.config.option}: the L{Option <keepsip.config.option.Option>}
    row.
  - L{keepsip.config.table}: the rows, one module per subject.
  - L{keepsip.config.options}: the option table C{OPTIONS}, the single
    table every other face is built from, the groups of
    L{keepsip.config.table} in order.
  - L{keepsip.config.settings}: the frozen C{Config}, one field per row,
    and the keyword arguments of the keepalive settings.
  - L{keepsip.config.load}: C{loadToml} and C{buildConfig} (merge, parse,
    validate).
  - L{keepsip.config.reference}: the README's options table and
    C{etc/keepsip.toml} (C{python -m keepsip.config --markdown | --toml}).

L{keepsip.tap.Options} makes one command-line handler per row.  To add an
option: add a row to its subject's group in L{keepsip.config.table} and a
field of the same (camelCase) name to C{Config}; if the keepalive engine uses
it, name its C{KeepaliveSettings} field in the row's C{keepalive}.
Everything else follows.
"""
