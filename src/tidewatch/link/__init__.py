"""Link: from single posts to the networks behind them (selectors, templates, networks, risk).

Pure functions over domain data: accounts, posts and detections in, networks out. The CLI
(``tidewatch link``) loads from the database and writes JSON and GEXF.
"""
