"""The fourth stage: the lifted joints made fit for a rig and placed in the world.

In the order a capture runs them: :mod:`.filters` smooths jitter, :mod:`.bones` holds each bone at one length,
:mod:`.world` turns camera-frame joints into a Z-up world with the floor at z = 0 (its up first guessed by
the learned :mod:`.gravity`), and :mod:`.foot_contact`
finds the planted feet there and pins them.
"""
