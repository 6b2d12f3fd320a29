"""Study machinery: the resumable grid runner (:mod:`.runner`), summary statistics (:mod:`.stats`), figures
(:mod:`.plots`) and what every study script's command line shares (:mod:`.cli`). It knows no task.
"""
