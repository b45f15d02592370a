"""Provider clients (Anthropic, OpenAI-compatible): retries, limits, usage and cost."""
