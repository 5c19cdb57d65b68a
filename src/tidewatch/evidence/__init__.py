"""Evidence fit for court: capture, seal, custody, export and verify.

capture.py   what is preserved for each post and account of a case
objects.py   content-addressed artifact bytes in the database
keys.py      the unit's Ed25519 signing key
seal.py      the manifest, its signature and RFC 3161 timestamps
custody.py   the hash-chained custody log of each capture
bundle.py    the export bundle for prosecutors, and its verifier
redact.py    third parties' personal data masked in exports
retention.py how long each kind of data is kept, and the purge job
"""
