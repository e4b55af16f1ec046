"""What VideoLLM-online (live1+) feeds around the frames, as the manifest's `prompt` block.

Every string but SUMMARY comes from the reference code (showlab/videollm-online):
- SYSTEM_PROMPT: models/arguments_live.py, LiveTrainingArguments.system_prompt.
- START: demo/inference.py `_start_ids` = apply_chat_template([system], add_stream_prompt=True)
  with models/tokenization_live.py's template: bos + system + "\\n", then "\\n[".
- FRAME_SEPARATOR: arguments_live.py LiveOnePlusTrainingArguments.frame_token_interval; the
  template joins frames with it ("<v>*10,<v>*10"), so it is fed before every frame that follows a
  frame, and it is what the model predicts after a frame when it stays silent.
- COMMENTARY: the template's add_stream_generation_prompt, "]\\nAssistant:" (inference.py feeds it
  when P(",") after a frame is below THRESHOLD).
- QUESTION: add_stream_query_prompt + add_generation_prompt, "]\\nUser: {q}" + "\\nAssistant:".
- AFTER_LINE: after a reply ends with eos, inference.py feeds eos + "\\n[" (add_stream_prompt) in
  front of the next frame (fast_greedy_generate stops at eos without feeding it).
- SUMMARY: ours (the reference has no summary request); it is asked like any question.
- THRESHOLD: inference.py frame_token_interval_threshold.
"""
SYSTEM_PROMPT = ("A multimodal AI assistant is helping users with some activities."
                 " Below is their conversation, interleaved with the list of video frames received by the assistant.")
START = "<|begin_of_text|>{system}\n\n["
FRAME_SEPARATOR = ","
COMMENTARY = "]\nAssistant:"
QUESTION = "]\nUser: {question}\nAssistant:"
AFTER_LINE = "\n["
SUMMARY = "Summarize what has happened in the video so far."
THRESHOLD = 0.725
FPS = 2                       # arguments_live.py frame_fps
TOKENS_PER_FRAME = 10         # frame_num_tokens: 1 (SigLIP pooler) + 3x3 pooled patches
GRID = (3, 3)                 # frame_token_pooled
LORA_TARGETS = "model.*(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)|lm_head$"   # lora_modules


def prompt_block() -> dict:
    """The manifest's `prompt`: strings keep the special-token text; the runtime tokenizes them."""
    return {"family": "videollm-online", "system": SYSTEM_PROMPT, "start": START, "frameSeparator": FRAME_SEPARATOR,
            "commentary": COMMENTARY, "question": QUESTION, "afterLine": AFTER_LINE, "summary": SUMMARY}
