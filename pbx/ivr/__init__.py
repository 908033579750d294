"""IVR programs: what a call the PBX answered itself does with prompts and digits (pure)."""
