"""Training, testing and prediction engine.

    trainer.py      train(cfg, resume=...): the loop, top to bottom
    evaluate.py     multi-view scoring with averaged scores; exact under torchrun
    tester.py       evaluate_checkpoint: `actionlab test` (metrics, predictions, confusion matrix)
    optim.py        SGD / AdamW, param groups, step / cosine schedules with linear warm-up
    checkpoint.py   atomic checkpoints, RNG states, weights_only loading
    distributed.py  torchrun process group, samplers, gathering by index
    loader.py       DataLoaders seeded per (seed, epoch, index)
    runtime.py      device, seeds, autocast, input normalisation
    build.py        models and training strategies from configs, models from checkpoints
    logs.py         progress line, train.log, metrics.jsonl / .csv, TensorBoard
    reports.py      test outputs and plain-text tables
    experiment.py   one recipe on the built-in benchmark (the demo)
"""
