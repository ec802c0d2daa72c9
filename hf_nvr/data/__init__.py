"""NV-Retriever-v1's data recipe: instructions, stage-2 builders and multi-dataset blends (arXiv 2407.15831 App. B).

Instructions
    ``get_instruction(name, overrides=None)``  E5-Mistral / NV-Embed style task definition by (case-insensitive) name.
    ``format_query(instruction, query)``       ``"Instruct: {instruction}\\nQuery: {query}"``.
    ``instruction_prompt(instruction)``        that prefix alone: the per-row ``query_prompt`` the trainer masks
                                               out of mean pooling.
    ``list_instructions()``, ``instruction_task(name)``.
Stage-2 builders (NV-Embed §4.2 conversion)
    ``build_example_pairs``  multi-class classification / clustering → example-based rows (no in-batch negatives).
    ``build_label_pairs``    binary / few-label classification → label-text rows (no in-batch negatives).
    ``build_sts_pairs``      STS pairs ≥ threshold, both directions, negatives mined by ``hf_nvr.HardNegativeMiner``.
    ``flatten_clustering``   MTEB clustering layout → ``text``/``label`` rows.
Blends
    ``BlendSource``, ``BlendSpec``, ``load_blend(path)``, ``build_blend(sources, ...)``, ``blend_info(dataset)``.

Blended rows: ``query``, ``positive`` (list of str), ``negatives`` (+ ``negative_ids``, ``negative_scores``,
``positive_scores`` when every source has them), ``query_prompt``, ``passage_prompt``, ``dataset``,
``in_batch_negatives``.
"""

from hf_nvr.data.blend import BUILDERS, BlendSource, BlendSpec, blend_info, build_blend, load_blend
from hf_nvr.data.builders import (
    build_example_pairs,
    build_label_pairs,
    build_sts_pairs,
    flatten_clustering,
    sts_positive_pairs,
)
from hf_nvr.data.instructions import (
    format_query,
    get_instruction,
    instruction_prompt,
    instruction_task,
    list_instructions,
)

__all__ = [
    "BUILDERS",
    "BlendSource",
    "BlendSpec",
    "blend_info",
    "build_blend",
    "build_example_pairs",
    "build_label_pairs",
    "build_sts_pairs",
    "flatten_clustering",
    "format_query",
    "get_instruction",
    "instruction_prompt",
    "instruction_task",
    "list_instructions",
    "load_blend",
    "sts_positive_pairs",
]
