"""
Integration tests: real SIPp user agents calling through a real keepsip
process over UDP on 127.0.0.1.  They need the C{sipp} binary; without it they
skip, or fail when C{KEEPSIP_REQUIRE_EXTERNAL=1}.
"""
