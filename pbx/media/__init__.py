"""Media the PBX terminates itself: RTP, SDP, G.711, DTMF, prompts and their playback (pure)."""
