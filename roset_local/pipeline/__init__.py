"""Processing: intake of bytes, the job lifecycle, and the extraction → index → variants pipeline."""
