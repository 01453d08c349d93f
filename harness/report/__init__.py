"""Reporting: Allure steps and side files, the offline HTML report, and plots from run records."""
