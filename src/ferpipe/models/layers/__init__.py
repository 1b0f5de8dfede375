"""Building blocks that several models of the zoo share (HOG features, VGG stages, Xception
blocks, timm backbones). train@ and evaluate@ depend on this whole folder, so editing a block
reruns every model; a block one model alone uses belongs in that model's own file."""
