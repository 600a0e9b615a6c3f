"""
Accounting: call records (L{keepsip.accounting.cdr}), their price
(L{keepsip.accounting.rating}), and their delivery to pluggable backends
(L{keepsip.accounting.tracker}, L{keepsip.accounting.plugin}) without loss
(L{keepsip.accounting.spool}).

The record schema is C{docs/cdr.md}; selecting backends, the tariff
configuration and writing a backend are in C{docs/accounting.md}.
"""
