"""A deliberately plain ALGD loss, written from the paper's formulas with Python loops.

It reads the parameters of an ``ALGDLoss`` but uses none of its code paths: members are
looped over as separate ``nn.Sequential`` copies, inputs are concatenated, the score network
is the concatenated MLP, the MC target is written out.  Random draws follow the same order as
``ALGDLoss.forward`` so both see the same noise on the same seed.
"""
import torch


def members_of(ensemble_module):
    net = ensemble_module.net
    return [net.member(i) for i in range(net.num_members)]


def linked_members(ensemble_module):
    """Per-member callables that use the live (differentiable) stacked parameters."""
    net = ensemble_module.net

    def make(i):
        def f(x):
            for j, layer in enumerate(net.layers):
                x = x @ layer.weight[i] + layer.bias[i, 0]
                if j < len(net.layers) - 1:
                    x = net.activation(x)
            return x
        return f

    return [make(i) for i in range(net.num_members)]


def score_net(policy, obs, u, step):
    net = policy.score_network
    x = torch.cat([obs, u, net.time_embedding(step - 1)], -1)
    return net.mlp(net.activation(net.input_layer(x)))


def score_in(policy, u):
    """The score network's input for chain state u: u, or the action with chain_space="action"."""
    return policy.action_loc + policy.action_scale * torch.tanh(u) if policy.chain_space == "action" else u


def chain(policy, obs):
    K = policy.num_steps
    noise = torch.randn((K + 1, *obs.shape[:-1], policy.action_dim))
    u = policy.sigmas[K] * noise[K]
    states = [u]
    for tau in range(K, 0, -1):
        d2 = policy.sigmas[tau] ** 2 - policy.sigmas[tau - 1] ** 2
        u = u + d2 * score_net(policy, obs, score_in(policy, u), torch.full(obs.shape[:-1], tau)) + d2.sqrt() * noise[tau - 1]
        states.append(u)
    return states[::-1]


def reference_losses(loss, td):
    policy, qnet, cnet = loss.actor.policy, loss.qvalue_network, loss.cost_network
    lam, h, rho = loss.dual.value, loss.cost_limit, loss.lagrangian.rho
    squash = lambda u: policy.action_loc + policy.action_scale * torch.tanh(u)  # noqa: E731
    obs, act = td["observation"], td["action"]
    nobs, r, c = td["next", "observation"], td["next", "reward"], td["next", "cost"]
    not_done = 1.0 - td["next", "terminated"].float()

    def aug_lag(q, qc):
        return -q + (torch.clamp(lam + rho * (qc - h), min=0) ** 2 - lam**2) / (2 * rho)

    def q_min(fs, s, a):
        x = torch.cat([s, a], -1)
        return torch.minimum(fs[0](x), fs[1](x))

    def qc_risk(fs, s, a):
        x = torch.cat([s, a], -1)
        vals = torch.stack([f(x) for f in fs])
        return vals.mean(0) + cnet.risk_coef * vals.std(0)

    # TD targets with the target parameters
    with torch.no_grad():
        next_a = squash(chain(policy, nobs)[0])
        with loss.target_qvalue_network_params.to_module(qnet):
            tq = members_of(qnet)
        with loss.target_cost_network_params.to_module(cnet):
            tc = members_of(cnet)
        x = torch.cat([nobs, next_a], -1)
        y_q = r + loss.gamma * not_done * torch.minimum(tq[0](x), tq[1](x))
        next_qc = [f(x) for f in tc]
        if loss.cost_target_mode == "member":  # member i bootstraps from target member i
            y_c = [c + loss.cost_gamma * not_done * q for q in next_qc]
        else:
            y_c = [c + loss.cost_gamma * not_done * torch.stack(next_qc).mean(0)] * len(tc)
    qf, cf = linked_members(qnet), linked_members(cnet)
    x = torch.cat([obs, act], -1)
    loss_q = sum(((f(x) - y_q) ** 2).mean() for f in qf)
    loss_c = sum(((f(x) - y) ** 2).mean() for f, y in zip(cf, y_c))

    # actor: chain with gradient, one intermediate step per element
    states = chain(policy, obs)
    B = obs.shape[0]
    step = torch.randint(1, policy.num_steps + 1, (B,))
    noisy = torch.stack([states[int(step[b])][b] for b in range(B)])  # the chain's own a^tau
    if not loss.score_loss.grad_into_chain:  # the paper: a sample, no gradient into the chain
        noisy = noisy.detach()
    sigma = policy.sigmas[step].unsqueeze(-1)
    # MC score target, eq. (11), one element at a time
    eps = torch.randn((loss.score_loss.num_samples, B, policy.action_dim))
    qd, cd = members_of(qnet), members_of(cnet)
    beta = loss.score_loss.beta
    targets = []
    for b in range(B):
        action_space = policy.chain_space == "action"  # released: around squash(u^tau), critics on unclipped samples
        centre = squash(noisy[b].detach()) if action_space else noisy[b].detach()
        samples = (centre + sigma[b] * eps[:, b]).requires_grad_(True)
        s = obs[b].expand(samples.shape[0], -1)
        acts = samples if action_space else squash(samples)
        energy = aug_lag(q_min(qd, s, acts), qc_risk(cd, s, acts)).squeeze(-1)
        (grad,) = torch.autograd.grad(energy.sum(), samples)
        w = torch.softmax(-energy.detach() / beta, 0)
        targets.append(-(w[:, None] * grad).sum(0) / beta)
    target = torch.stack(targets)
    pred = score_net(policy, obs, score_in(policy, noisy), step)
    if loss.score_loss.reduction == "mean":  # F.mse_loss, the released code
        loss_score = torch.nn.functional.mse_loss(pred, target)
    else:
        loss_score = ((pred - target) ** 2).sum(-1).mean()
    a0 = squash(states[0])
    energy = aug_lag(q_min(qd, obs, a0), qc_risk(cd, obs, a0)).mean()
    loss_actor = loss.score_coef * loss_score + loss.energy_coef * energy
    return {"loss_qvalue": loss_q, "loss_cost": loss_c, "loss_actor": loss_actor, "score_loss": loss_score}
