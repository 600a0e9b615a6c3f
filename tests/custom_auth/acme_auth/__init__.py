"""
ACME's keepsip credentials checker (an example operator package).
"""
