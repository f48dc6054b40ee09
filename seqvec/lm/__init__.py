"""Language model: config, modules, allennlp weight format, training, pretrained models."""
