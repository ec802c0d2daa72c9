"""Train from a recipe: ``accelerate launch --config_file recipes/accelerate/cpu.yaml recipes/train.py recipes/scifact_cpu.yaml``."""

from hf_nvr.recipe import main

if __name__ == "__main__":
    main()
