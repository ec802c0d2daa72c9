"""The model card template, installed as ``hf_nvr._model_card``."""
