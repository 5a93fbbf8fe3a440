"""Tests of one chapter each: its experiments, widgets and exercise checkers."""
