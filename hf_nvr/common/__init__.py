"""The floor every layer may import: text normalisation, BEIR readers, model resolution. Imports nothing above."""
