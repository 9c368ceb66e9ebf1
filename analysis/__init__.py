"""MVT estimation, crowdMOS statistics, worker screening, reports and MTurk operations."""
