"""Systems under test behind one Protocol: scripted, http and llm agents."""
