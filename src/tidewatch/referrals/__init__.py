"""Referrals: packages per platform, four-eyes approval, platform decisions and outcomes."""
