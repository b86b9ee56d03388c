import numpy as np
def fit(dp, dq, clamp, iters=30):
    x = np.concatenate([np.linspace(1e-4, clamp, 20000), np.geomspace(1e-6, 1e-2, 2000)])
    x.sort()
    t = np.tanh(x)
    w = np.ones_like(x)
    best=None
    for it in range(iters):
        # x*P(x2) - t*Q(x2) = 0, Q monic: q0=1 ; unknowns p0..pdp, q1..qdq
        x2 = x*x
        A = np.concatenate([np.stack([x*x2**i for i in range(dp+1)],1), np.stack([-t*x2**j for j in range(1,dq+1)],1)],1)
        b = t
        Aw = A * (w/t)[:,None]; bw = b*(w/t)
        c,*_ = np.linalg.lstsq(Aw, bw, rcond=None)
        p = c[:dp+1]; q = np.concatenate([[1.0], c[dp+1:]])
        P = sum(p[i]*x2**i for i in range(dp+1))*x; Q = sum(q[j]*x2**j for j in range(dq+1))
        r = np.minimum(P/Q, 1.0)
        err = np.abs(r - t)/t
        m = err.max()
        if best is None or m < best[0]: best=(m,p,q)
        w = w * (1 + 10*err/m)  # Lawson-like reweighting
    return best
for dp,dq,cl in [(3,3,7.8),(3,3,9.0),(3,2,7.8),(2,3,7.8),(4,3,7.8),(3,4,7.8),(4,4,7.9)]:
    m,p,q = fit(dp,dq,cl)
    # error beyond clamp
    tail = 1-np.tanh(cl)
    print(dp,dq,cl, f"max rel {m:.2e}  tail {tail:.1e}", list(p), list(q))
