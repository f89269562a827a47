"""Plain helpers of the tests (functions, constants, small classes), imported by test modules; the fixtures stay
in tests/fixtures/ and the conftest.py files."""
