"""Study machinery: the resumable grid runner (:mod:`.runner`), summary statistics (:mod:`.stats`), figures
(:mod:`.plots`) and what every study script's command line shares (:mod:`.cli`). It knows no task.
"""

#: How a study's runs are spread: one after another in this process, over worker processes, or a Dask cluster
#: (:func:`spikeloc.study.runner.run_study`). Here so that a study's command line needs no runner to offer them.
EXECUTORS = ("inline", "processes", "dask")
