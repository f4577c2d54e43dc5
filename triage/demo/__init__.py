"""Synthetic demo data: a made-up bilingual ticket set for the first-run model and the tests."""
