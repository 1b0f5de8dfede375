"""The names params may choose from, and the defaults that paths without pydantic read, in one
place without dependencies: the schema checks params against them and the stages dispatch on them
(the training code needs no pydantic on a GPU box). tests/test_schema.py checks every name here
against the registry it is looked up in."""

from pathlib import Path

from ferpipe.named import file_names

OPTIMIZERS = ("adam", "adamw", "sgd", "radam")
SCHEDULES = ("none", "step", "exponential", "plateau", "cosine", "onecycle")
BALANCE_METHODS = ("none", "ros", "rus", "smote", "smote_tomek", "smote_enn", "tomek", "augment")
SCOPES = ("after_split", "before_split")
# drop_from_train: drop the copy on the less held-out side (from training, or from validation when
# it copies a test image); fail: stop the pipeline; keep: a leaky protocol, on purpose (ferpipe.protocol)
AUDIT_POLICIES = ("drop_from_train", "fail", "keep")
# the reader formats: one file each, readers/formats/read_<format>.py (ferpipe.readers.registry), listed
# without importing them
READ_FORMAT_PREFIX = "read_"  # formats/read_<format>.py: a reader's file, not a data set's
READ_FORMATS = tuple(file_names(Path(__file__).parent / "readers" / "formats", READ_FORMAT_PREFIX))
SYNTHETIC_LAYOUTS = ("fer2013_csv", "ckplus", "image_folder", "rafdb", "affectnet")
IMBLEARN_STRATEGIES = ("auto", "minority", "not minority", "not majority", "all")
SPLIT_NAMES = ("train", "val", "test")
# primary: its official split; extra: training only; test_only: a cross-dataset test set, scored and never
# trained on or chosen with (the split "cross", ferpipe.data.dataset.CROSS)
SOURCE_ROLES = ("primary", "extra", "test_only")
TTA_MODES = ("none", "flip", "ten_crop")  # ten_crop: for models trained on crops (models.crops)
DEFAULT_TTA = "none"  # evaluate.tta when unset
DEFAULT_EPOCHS = 10  # a model's epochs when neither it nor train sets them
MAX_EPOCHS = 100_000  # what epochs x epochs_scale may come to: past it a typo, not a recipe
DEFAULT_EVALUATE_BATCH_SIZE = 256  # evaluate.batch_size when unset: faces per forward pass when scoring
# read.max_pixels and FERPIPE_MAX_IMAGE_PIXELS when unset (ferpipe.images): about 7300x5500, so a
# 36 MP camera photo fits and a pixel bomb does not; PIL's own limit (179 MP) is far above a face's needs
DEFAULT_MAX_PIXELS = 40_000_000
# FER+ votes to training labels: the winner with more than half, a draw from the votes, the votes'
# distribution as the target, or every emotion with 30% accepted (validation and test: the majority)
FERPLUS_SCHEMES = ("majority", "probability", "soft", "multi_target")
TARGET_SCHEMES = ("soft", "multi_target")  # the schemes whose training rows carry a target distribution
DISTILL_TEACHERS = ("average", "weighted")  # the ensembles with probabilities (a vote has none to learn)
PROMOTE_RULES = ("any_gain", "beyond_noise")  # mlflow.promote_on: when @champion moves to the challenger
TUNE_PRUNERS = ("median", "hyperband", "none")  # tune.pruner: how `ferpipe tune` stops a hopeless trial early
TUNE_TYPES = ("float", "int")  # tune.space.<key>.type of a range (a list of choices has none)
FETCH_KINDS = ("synthetic", "location", "path", "url", "kaggle", "augmented_copy")
