"""Watching what a model says: labels drawn on the video (`video`, `overlay`, `font`), the rule that
ties a frame to a window (`sync`), and self-contained HTML pages (`page`).

Nothing here imports the model or the timeline: they hand in plain data (windows, scores,
class names), so `actionlab.timeline` and `actionlab.commands` sit above this package.
"""
