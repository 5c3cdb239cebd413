"""Model-agnostic meta-learning (Finn, Abbeel and Levine, 2017) and its variants."""

from __future__ import annotations

from .._sklearn import StrOptions
from ._gradient import BaseGradientClassifier

__all__ = ["MAMLClassifier"]


class MAMLClassifier(BaseGradientClassifier):
    """MAML: an initialisation that learns new classes in a few gradient steps.

    ``fit`` meta-trains on N-way K-shot episodes drawn from the classes of
    ``y``: for each episode of a meta-batch, the network is adapted to the
    support samples by ``n_inner_steps`` steps of gradient descent, and the
    initialisation is updated (Adam) to lower the loss of the adapted
    networks on the query samples. The fitted estimator predicts among the
    classes of ``y`` with the initialisation adapted to all of ``X`` (on the
    first prediction, or :meth:`build_head`: ``fit`` costs what it trains);
    :meth:`adapt` gives a new estimator for *novel* classes from a handful of
    labelled examples, leaving this one untouched.

    The same estimator covers the family: second-order MAML (default),
    first-order MAML (``first_order=True``), ANIL (``inner_params="head"``)
    and Meta-SGD (``learn_inner_lr=True``). Any number of classes works at
    every stage, because each task's head is made from its support set
    (``head_init``).

    Parameters
    ----------
    backbone : str, backbone config, torch.nn.Module or fitted estimator, default="auto"
        The network adapted in the inner loop: ``"auto"`` (a conv4 with
        instance normalisation for images, ``"mlp"`` for rows), ``"mlp"``,
        ``"conv4"``, a torchvision model name, a config such as
        :class:`~sklearn_meta.backbones.Conv4Backbone`, a module (copied), or
        a fitted sklearn_meta estimator (meta-transfer: MAML starts from its
        trained features). Batch-norm layers run with their stored
        statistics, so an untrained batch-norm backbone is refused; dropout
        is off.
    weights : str, path-like or None, default=None
        Starting weights for the backbone: torchvision weights name or local
        state-dict file.
    n_way : int, default=5
        Classes per training episode (fewer when ``y`` has fewer classes).
        Adapting and scoring work with any number of classes.
    n_shot : int, default=1
        Support samples per class in a training episode.
    n_query : int, default=5
        Query samples per class in a training episode. Classes with fewer
        than ``n_shot + n_query`` samples are left out of the episodes (with
        a warning) but still predicted.
    n_inner_steps : int, default=1
        Gradient steps on the support set in meta-training.
    inner_lr : float, default=0.01
        Step size of the inner loop (the initial one with Meta-SGD).
        Measured (``benchmarks/maml_defaults.py``; benchmarks/README.md,
        "MAML defaults"): on new Omniglot alphabets, 5-way 5-shot after a
        50-update fit, the 0.4 of Finn et al. (the default before) took
        accuracy from 0.84 to 0.46 after one step; with ``backtrack``, 0.1
        and 0.03 still lowered it after one step (0.86 to 0.81 and 0.85),
        0.01 did not, on Omniglot, digit images or digit rows.
    n_adapt_steps : int or None, default=None
        Gradient steps when adapting to new data: in :meth:`adapt`, in
        episodic scoring, and to the training classes after ``fit`` and
        ``partial_fit``. None uses ``n_inner_steps``; papers often use more
        at test time. It is read when the adaptation runs, so ``set_params``
        changes it on a fitted estimator (the training-class head keeps the
        value of the fit that made it).
    first_order : bool, default=False
        First-order MAML: the outer gradient ignores the second derivatives
        through the inner steps (cheaper, usually close in accuracy).
    inner_params : {"all", "head"}, default="all"
        What the inner loop adapts: every parameter (MAML) or the head only,
        on features computed once per task (ANIL, Raghu et al. 2020).
    learn_inner_lr : bool, default=False
        Meta-SGD (Li et al. 2017): learn a step size for every parameter
        entry in the outer loop, starting from ``inner_lr``.
    head_init : {"proto", "zero"}, default="proto"
        How each task's head starts: from the support class means, which
        makes the unadapted model a prototypical classifier (Proto-MAML,
        Triantafillou et al. 2020), or at zero (Kao et al. 2022).
    backtrack : bool, default=True
        No inner step may raise the support loss: a step that would is not
        taken and the step size of that task is halved for its next steps
        (in training, :meth:`adapt`, episodic scoring and the training-class
        head alike). So more steps never undo what adaptation gained on the
        support set, whatever the scale of the data or the sharpness the
        meta-training reached. Measured (``benchmarks/maml_defaults.py``):
        without it, one step of 0.4 took 5-way 5-shot accuracy on new digit
        images from 0.76 to 0.41 and on new Omniglot alphabets down too;
        with it, 0 / 1 / 3 / 10 steps never fell below 0 steps. ``False``
        is plain MAML, as before.
    max_iter : int or "auto", default="auto"
        Meta-updates run by ``fit`` (fewer when early stopping ends it).
        ``"auto"`` runs enough to draw every training sample about 50 times,
        at most 2,000 (``max_iter_`` says how many).
    meta_batch_size : int, default=32
        Episodes (tasks) averaged in each meta-update.
    lr : float, default=1e-3
        Adam learning rate of the outer loop.
    batch_size : int, default=256
        Rows processed at once when adapting to large data and predicting.
    vectorize : "auto" or bool, default="auto"
        Run the tasks of a meta-batch through one :func:`torch.func.vmap`
        call (True) or one after another (False). ``"auto"`` vectorises on
        CUDA, and on the CPU for networks without convolutions: there vmap
        is 6-12x faster for an MLP, and no faster than a loop for a conv4.
    task_chunk_size : int or None, default=None
        With vectorisation, tasks per vmap call; the meta-gradient is
        accumulated over the chunks. vmap keeps the graph of every task of a
        call, so this bounds memory. None puts a whole meta-batch in one
        call (evaluation: ``meta_batch_size`` episodes).
    early_stopping : "auto" or bool, default="auto"
        Hold out a share ``validation_fraction`` of the classes, measure the
        episodic accuracy on them every 100 meta-updates, stop as
        ``n_iter_no_change`` says and keep the best initialisation.
        ``"auto"`` turns it on above 10,000 training samples. It needs at
        least 4 classes. ``partial_fit`` never stops early.
    validation_fraction : float, default=0.1
        Share of the classes held out for early stopping (at least 2).
    n_iter_no_change : int, default=10
        Training stops once more than this many validation checks in a row
        have not improved the best score by ``tol``.
    tol : float, default=1e-4
        Improvement of the validation accuracy that counts.
    callbacks : list of skorch callbacks or None, default=None
        skorch callback objects (or ``(name, callback)`` pairs); an epoch is
        a block of 100 meta-updates.
    input_shape : tuple of int or None, default=None
        ``(C, H, W)`` of images given as flattened rows.
    image_size : int, (int, int) or None, default=None
        Size every image is resized to (a side, or ``(H, W)``), with
        antialiasing, the same way in training and inference. None keeps the
        images' own size: they must then share one, unless a pretrained
        backbone's preprocessing resizes them (``preprocess``).
    preprocess : "auto", None or callable, default="auto"
        What happens to images before the network. ``"auto"``: a torchvision
        backbone with ``weights`` gets those weights' resize, centre crop
        and normalisation, read from ``weights.transforms()`` (a local
        state-dict file for a torchvision architecture gets its ``DEFAULT``
        weights' ones); an explicit ``image_size`` replaces their resize and
        crop and keeps the normalisation. A fitted sklearn_meta backbone
        brings its own; anything else gets none. None: nothing (a fitted
        backbone's normalisation is taken out too). A
        ``torchvision.transforms.v2`` transform (or a picklable callable on
        float batches of shape ``(N, C, H, W)``, without trainable
        parameters) replaces them. Resizing runs on each image on the host;
        normalisation or the transform is the first layer of
        ``module_.features``, in training and inference. ``preprocess_``
        records what was applied.
    augment : None, "standard" or callable, default=None
        Random augmentation of training images, on the device, per
        minibatch or episode, never at inference. ``"standard"``: a random
        resized crop (50 % to 100 % of the area, aspect ratio 3/4 to 4/3,
        back to the image's size) and a horizontal flip (probability 0.5).
        A ``torchvision.transforms.v2`` transform (or any callable from a
        ``(C, H, W)`` float image to one of the same shape) is applied to
        each image with its own parameters. Every draw comes from a
        generator seeded by ``random_state`` and the update, so an augmented
        fit repeats, and resumes after Ctrl-C, exactly. Images only: a
        ``ValueError`` on tabular rows.
    rotation_classes : bool, default=False
        Meta-train on each class turned by 0, 90, 180 and 270 degrees as four
        classes, as Vinyals et al. and Snell et al. trained on Omniglot: the
        episodes of ``fit`` and ``partial_fit`` draw from four times as many
        classes. Only meta-training sees the turned classes: ``classes_``,
        the training classes' predictions, ``adapt`` and scoring keep the
        original ones. Images must be square; they are turned as episodes
        gather them, so the training set is not copied. ``max_iter="auto"``
        counts the original samples.
    storage : {"auto", "device", "stream"}, default="auto"
        Where decoded images (files, PIL images, a dataset) are kept.
        ``"device"``: one uint8 array on the training device (host memory on
        the CPU). ``"stream"``: a temporary file (in ``TMPDIR``) the operating
        system pages in, each batch copied to the device as it is used.
        ``"auto"``: ``"stream"`` when the decoded set would take more than half
        of the memory free where it would live, else ``"device"``. The results
        are the same either way; ``storage_`` records the choice. Arrays you
        pass stay where they are.
    precision : {"float32", "bf16", "fp16"}, default="float32"
        Numeric precision of the network's forward passes, in training and in
        ``predict``, ``transform``, ``adapt`` and scoring. ``"bf16"``:
        bfloat16 autocast on the CPU or CUDA; the weights, their gradients and
        the optimiser stay float32, and losses, softmax, reductions, the task
        heads and the inner-loop losses are computed in float32. It is for
        GPUs, where it has not been measured yet. On the CPU (with AMX) it did
        not pay: a conv4 meta-trained on Omniglot for 100 meta-updates (with
        scoring) took 2.3x its float32 time, at the same accuracy (5-way
        1-shot 78.1 % against 78.3 %); second-order meta-gradients are 11-18 %
        off float64 in norm (cosine 0.98-0.99), against 0.0003 % in float32.
        ``"fp16"``: float16 autocast with a gradient scaler, for GPUs without
        bfloat16 (CUDA only: a ``ValueError`` on the CPU). See
        benchmarks/README.md, "Precision".
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where to train; ``"auto"`` picks CUDA when present.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation and episode sampling. With an int, a CPU fit is
        bit-for-bit repeatable; torch's global RNG is left untouched.
    verbose : int, default=0
        Show a progress bar with the episode loss and accuracy.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when ``X`` was a DataFrame with string column names.
    input_shape_ : tuple
        Shape of one sample as the network receives it.
    image_size_ : tuple of int or None
        ``(H, W)`` every image is resized to (``image_size``); None when
        images keep their own size (or a pretrained network's resizes them).
    storage_ : {"device", "stream"}
        Where the training images were kept (see ``storage``).
    preprocess_ : dict
        What images went through before the network (see ``preprocess``).
        ``{"source": None}``: nothing. Otherwise ``"source"`` is
        ``"weights"`` (torchvision weights: their name, ``"resize"``,
        ``"crop"``, ``"interpolation"``, ``"mean"`` and ``"std"``),
        ``"user"`` (``"transform"``: the transform's repr) or ``"backbone"``
        (what a fitted ``backbone`` estimator applied, carried over).
    device_ : torch.device
        The device the model lives on.
    module_ : torch.nn.Module
        The meta-learned initialisation (``module_.features``; with Meta-SGD
        also ``module_.inner_lrs``).
    optimizer_ : torch.optim.Optimizer
        Kept so ``partial_fit`` continues where it stopped.
    pretrained_ : bool
        Whether the backbone started from learned weights.
    episode_shape_ : tuple of int
        ``(n_way, n_shot, n_query)`` of the training episodes actually drawn.
    max_iter_ : int
        The meta-updates ``fit`` aimed for.
    validation_scores_ : list of float or None
        Episodic accuracy on the held-out classes after every block of 100
        meta-updates; None without early stopping.
    best_validation_score_ : float or None
        The best of ``validation_scores_``.
    validation_classes_ : ndarray
        The classes held out for early stopping (only with early stopping).
    callbacks_ : list of (str, callback)
        The callbacks of the last fit, initialised.
    history_ : skorch.history.History
        Per block of up to 100 meta-updates: ``epoch``, ``iter``,
        ``train_loss`` and ``train_acc`` (query loss and accuracy after
        adaptation), ``dur``, and with early stopping ``valid_loss`` and
        ``valid_acc``.
    n_iter_ : int
        Meta-updates run so far.

    See Also
    --------
    ReptileClassifier : A first-order relative with its own outer update.
    ProtoNetClassifier : A metric-based few-shot classifier.
    sklearn_meta.model_selection.evaluate_episodes : Few-shot accuracy with a
        95 % confidence interval over episodes.

    Notes
    -----
    One functional inner loop (:mod:`torch.func`) serves every variant, and
    the second-order gradient flows through it. The training data go to the
    device once and episodes are drawn there by index; losses are read back
    every 100 meta-updates.

    The network never uses the statistics of a batch: PyTorch's batch norm
    in training mode gives wrong second-order meta-gradients under ``vmap``
    (about 1-8 % relative error in float64), and would make a prediction
    depend on the other samples of the batch. The default conv4 normalises
    each channel of each sample (``Conv4Backbone(norm="instance")``, computed
    by GroupNorm's kernel, exact under ``vmap``). Group normalisation with 8
    groups leaves the embeddings of Omniglot images at initialisation almost
    equal (standard deviation across images 0.0016 against 0.20), and MAML
    then does not learn: 20.0 % against 52.8 % 5-way accuracy after 60
    meta-updates.

    The parameter that selects ANIL is ``inner_params``, not ``adapt``:
    ``adapt`` is the method that learns new classes.

    The defaults were chosen by fitting on real data
    (``benchmarks/maml_defaults.py``; tables in benchmarks/README.md, "MAML
    defaults"): Omniglot background -> evaluation alphabets with the conv4,
    digits as rows (MLP) and as 16x16 images, after 20 to 300 meta-updates.
    At ``inner_lr=0.01`` with ``backtrack`` the held-out accuracy after 1, 3
    or 10 adaptation steps was never below that after 0 steps; at the old
    ``inner_lr=0.4`` without it one step took new Omniglot characters from
    93 % to 61 % (5-way 5-shot). With ``backtrack`` an adaptation costs one more
    evaluation of the support loss (after the last step), and a task whose
    steps are all refused keeps the unadapted (prototype) head.

    ``fit`` stops with a ``ValueError`` naming ``inner_lr`` and ``lr`` when
    the training loss ends a block of meta-updates more than 1000 times
    above the loss before adaptation of its first meta-batch: a step size
    too large for the data, which used to train on silently. An adaptation
    whose loss grows as much raises too. With ``backtrack`` no inner step
    raises the loss, so this catches a too large outer ``lr``.

    Ctrl-C during ``fit`` or ``partial_fit`` stops after the current
    meta-update, leaves the model ready to predict as it is, warns and raises
    :class:`~sklearn_meta.exceptions.TrainingInterrupted`.

    References
    ----------
    .. [1] Finn, C., Abbeel, P. and Levine, S. "Model-agnostic meta-learning
       for fast adaptation of deep networks", ICML 2017.
    .. [2] Li, Z., Zhou, F., Chen, F. and Li, H. "Meta-SGD: learning to learn
       quickly for few-shot learning", arXiv:1707.09835, 2017.
    .. [3] Raghu, A., Raghu, M., Bengio, S. and Vinyals, O. "Rapid learning
       or feature reuse? Towards understanding the effectiveness of MAML",
       ICLR 2020.
    .. [4] Triantafillou, E. et al. "Meta-Dataset: a dataset of datasets for
       learning to learn from few examples", ICLR 2020.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import MAMLClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16.0
    >>> clf = MAMLClassifier(n_way=5, n_shot=5, meta_batch_size=4, max_iter=30,
    ...                      random_state=0)
    >>> clf.fit(X[y < 5], y[y < 5]).classes_
    array([0, 1, 2, 3, 4])
    >>> novel = clf.adapt(X[y >= 5][:25], y[y >= 5][:25])   # 5 new classes
    >>> novel.classes_
    array([5, 6, 7, 8, 9])
    >>> novel.score(X[y >= 5][25:], y[y >= 5][25:]) > 0.75
    True
    """

    _parameter_constraints: dict = {
        **BaseGradientClassifier._parameter_constraints,
        "first_order": ["boolean"],
        "inner_params": [StrOptions({"all", "head"})],
        "learn_inner_lr": ["boolean"],
        "backtrack": ["boolean"],
    }

    _build_param_names = ("backbone", "learn_inner_lr")

    def __init__(
        self,
        backbone="auto",
        *,
        weights=None,
        n_way=5,
        n_shot=1,
        n_query=5,
        n_inner_steps=1,
        inner_lr=0.01,
        n_adapt_steps=None,
        first_order=False,
        inner_params="all",
        learn_inner_lr=False,
        head_init="proto",
        backtrack=True,
        max_iter="auto",
        meta_batch_size=32,
        lr=1e-3,
        batch_size=256,
        vectorize="auto",
        task_chunk_size=None,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        callbacks=None,
        input_shape=None,
        image_size=None,
        preprocess="auto",
        augment=None,
        rotation_classes=False,
        storage="auto",
        precision="float32",
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.backbone = backbone
        self.weights = weights
        self.n_way = n_way
        self.n_shot = n_shot
        self.n_query = n_query
        self.n_inner_steps = n_inner_steps
        self.inner_lr = inner_lr
        self.n_adapt_steps = n_adapt_steps
        self.first_order = first_order
        self.inner_params = inner_params
        self.learn_inner_lr = learn_inner_lr
        self.head_init = head_init
        self.backtrack = backtrack
        self.max_iter = max_iter
        self.meta_batch_size = meta_batch_size
        self.lr = lr
        self.batch_size = batch_size
        self.vectorize = vectorize
        self.task_chunk_size = task_chunk_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.callbacks = callbacks
        self.input_shape = input_shape
        self.image_size = image_size
        self.preprocess = preprocess
        self.augment = augment
        self.storage = storage
        self.rotation_classes = rotation_classes
        self.precision = precision
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _learns_lr(self):
        return bool(self.learn_inner_lr)

    def _head_only(self):
        return self.inner_params == "head"

    def _backtracks(self):
        return bool(self.backtrack)
