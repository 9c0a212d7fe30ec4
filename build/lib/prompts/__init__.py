"""The prompt templates of the optional LLM answerer, shipped as package data so any install finds them."""
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent
