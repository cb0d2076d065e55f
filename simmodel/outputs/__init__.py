"""Outputs people read: result tables and files, the report and workbook, output folders."""
