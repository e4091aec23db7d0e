"""Tests of api/routes/: one test_<module>.py (or test_<module>_<aspect>.py) per routes module."""
