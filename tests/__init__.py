"""Tests of lecturelib against trusted references."""
