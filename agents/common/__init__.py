"""Pieces shared by the graphs: the MCP toolbox, LLM configuration, checkpointers."""
