"""HTTP service for exported classifiers: predictions, targeted look-alike images and a web page.

Start it with ``featuretest serve --models saved_models/<pipeline>`` or build the app with
:func:`tf_featuretest.serve.app.create_app`.
"""
