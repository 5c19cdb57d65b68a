"""Exchange formats: networks as STIX 2.1 bundles for partner agencies (``stix``), referrals as
X-ARF v4 reports (``xarf``), and platform decisions in the DSA statement-of-reasons vocabulary
with reconciliation against the Transparency Database dump (``dsa``). See docs/exchange.md."""
