from torchvision import _Missing


def __getattr__(name):
    return _Missing(__name__ + "." + name)
