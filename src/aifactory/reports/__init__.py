"""Report renderers: JSON, JUnit XML and Markdown (HTML comes with the dashboard)."""
