"""A classifier trained the way Keras's image-classification tutorial does it, on your own folder.

The model reads raw 0-255 pixels (``keras.utils.image_dataset_from_directory``), rescales them with
a ``Rescaling(1/255)`` layer and ends in a softmax: the pattern tf-featuretest must detect and adapt
(its own models take [0, 1] images and return logits). Prints Keras's own test accuracy, to compare
with the report's.

Example:
    python examples/train_own_model.py data/digits_folder my_model.keras --epochs 4
    featuretest evaluate --model my_model.keras --data folder:data/digits_folder
"""
from __future__ import annotations

import argparse
import os

import keras


def build(image_size, channels, num_classes):
    """Rescaling(1/255) -> two conv blocks -> softmax, as in the tutorial."""
    return keras.Sequential([
        keras.Input((*image_size, channels)),
        keras.layers.Rescaling(1.0 / 255),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])


def datasets(root, image_size, color_mode, batch_size=64, seed=0):
    """Train and test datasets of raw 0-255 pixels from ``root/train`` and ``root/test``."""
    kw = dict(image_size=image_size, color_mode=color_mode, batch_size=batch_size, seed=seed)
    train = keras.utils.image_dataset_from_directory(os.path.join(root, "train"), shuffle=True, **kw)
    test = keras.utils.image_dataset_from_directory(os.path.join(root, "test"), shuffle=False, **kw)
    return train, test


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", help="a folder with train/<class>/ and test/<class>/")
    ap.add_argument("out", help="where to save the .keras model")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--rgb", action="store_true", help="read the images as RGB (default grayscale)")
    args = ap.parse_args()
    keras.utils.set_random_seed(0)
    size = (args.size, args.size)
    train, test = datasets(args.root, size, "rgb" if args.rgb else "grayscale")
    model = build(size, 3 if args.rgb else 1, len(train.class_names))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train, epochs=args.epochs, verbose=2)
    loss, acc = model.evaluate(test, verbose=0)
    print(f"Keras test accuracy {acc:.4f} (loss {loss:.4f})")
    model.save(args.out)


if __name__ == "__main__":
    main()
