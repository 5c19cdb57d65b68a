"""The programme's figures: versioned metric definitions, the transparency report, the
programme simulator and the exchange formats partners use (STIX 2.1, X-ARF, DSA)."""
