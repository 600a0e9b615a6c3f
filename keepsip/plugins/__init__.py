"""
keepsip's plugin package: accounting backend types (and future extension
points) found with L{twisted.plugin.getPlugins}.

Other distributions add backends by installing a module into their own
C{keepsip/plugins/} directory, without an C{__init__.py}; every such
directory on C{sys.path} becomes part of this package.
"""

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))
__all__: list[str] = []
