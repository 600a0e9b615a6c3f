"""
ACME's keepsip accounting backend (an example operator package).
"""
