"""The media stage: what images and videos say, derived from their bytes and stored.

stage.py  find media whose bytes are at hand (an export's files, captured evidence), compute
          PDQ or vPDQ and the text inside images, store them in ``media_signals``, and detect
          posts again with their images' text

It sits between store and detect: it reads stored media and their bytes, and hands the
detector plain posts (``Post.detectable_text`` with ``Media.image_text``), so detection
itself still never touches the database. The link stage reads the stored hashes
(``pipeline.link_facts``).
"""
