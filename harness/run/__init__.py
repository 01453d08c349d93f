"""The run driver (`python -m harness.run`) and the stage interface every stack implements."""
