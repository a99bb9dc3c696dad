"""The daemon: its loop, the entries it runs, the entries it holds back, and how it is built and served."""
