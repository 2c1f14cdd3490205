import pickle
import sys

import numpy as np
from scipy.ndimage import uniform_filter

from vidcodec.codec.vaegan import _WINDOW, _delta_cost_matrix
from vidcodec.models import zoo

m = zoo.load('vaegan-g')
T = m.delta_tables; cost = _delta_cost_matrix(T); R = len(T); V = 2*_WINDOW+1
train = ["carphone.mp4","motion.mov","wannaworktogether.mp4","bigbuckbunny.mp4","movie-hello.mp4"]
test = ["diver.mov","bikes.mp4","vtest.avi"]
def load(names):
    out=[]
    for n in names:
        with open(f"/tmp/ctx/d_{n}.pkl", "rb") as fh:
            d = pickle.load(fh)
        for q,recs in d.items():
            for r in recs:
                if r[0]=="delta": out.append((n,q,r[2],r[3]))
    return out
tr, te = load(train), load(test)

def feat_act(d, pred, c, box=3):
    a = np.abs(d[:c]).astype(float)
    cum = np.concatenate([np.zeros((1,)+a.shape[1:]), np.cumsum(a,0)[:-1]],0)
    if box>1: cum = np.stack([uniform_filter(x, box, mode='constant')*box*box for x in cum])
    return cum
def feat_pred(d, pred, c):
    return np.abs(pred[:c]).astype(float)

def make_variant(kind):
    if kind=="A":
        E=[0.5,1.5,3.5,7.5,15.5]
        def f(d,pred,c): return np.searchsorted(E, feat_act(d,pred,c))
        return f, len(E)+1
    if kind=="B":
        E=[0.5,1.5,3.5,7.5,15.5]; P=[0.5,1.5,3.5,7.5]
        def f(d,pred,c):
            return np.searchsorted(E, feat_act(d,pred,c))*(len(P)+1) + np.searchsorted(P, feat_pred(d,pred,c))
        return f, (len(E)+1)*(len(P)+1)
    if kind=="C":  # activity normalized by channel count, plus pred
        E=[0.5,1.5,3.5,7.5,15.5,31.5]; P=[0.5,1.5,3.5]
        def f(d,pred,c):
            return np.searchsorted(E, feat_act(d,pred,c,5))*(len(P)+1) + np.searchsorted(P, feat_pred(d,pred,c))
        return f, (len(E)+1)*(len(P)+1)
    if kind=="E":  # B for anchors; non-anchors also by same-channel anchor neighbours
        E=[0.5,1.5,3.5,7.5,15.5]; P=[0.5,1.5,3.5,7.5]; N=[0.5,1.5,3.5]
        nb0=(len(E)+1)*(len(P)+1)
        def f(d,pred,c):
            base = np.searchsorted(E, feat_act(d,pred,c))*(len(P)+1) + np.searchsorted(P, feat_pred(d,pred,c))
            h,w = d.shape[1:]
            yy,xx = np.mgrid[:h,:w]; anchor = (yy+xx)%2==0
            a = np.abs(d[:c]).astype(float)*anchor
            pad = np.pad(a,((0,0),(1,1),(1,1)))
            nsum = pad[:,:-2,1:-1]+pad[:,2:,1:-1]+pad[:,1:-1,:-2]+pad[:,1:-1,2:]
            nbk = np.searchsorted(N, nsum)
            return np.where(anchor, base, nb0 + base*(len(N)+1) + nbk)
        return f, nb0*(1+len(N)+1)
    if kind=="D":  # pred local energy 3x3 of same channel plus act
        E=[0.5,1.5,3.5,7.5,15.5]; P=[0.5,2.5,6.5,14.5]
        def f(d,pred,c):
            pe = np.stack([uniform_filter(x,3,mode='nearest')*9 for x in np.abs(pred[:c]).astype(float)])
            return np.searchsorted(E, feat_act(d,pred,c))*(len(P)+1) + np.searchsorted(P, pe)
        return f, (len(E)+1)*(len(P)+1)

def prep(S, f, nb):
    """per frame: list of (H[ch] (nb,V)) for nonzero channels, and c"""
    out=[]
    for n,q,d,pred in S:
        c = m.level_channels[q-1]
        b = f(d,pred,c).reshape(c,-1)
        flat = d[:c].reshape(c,-1)
        v = np.clip(flat,-_WINDOW,_WINDOW)+_WINDOW
        nz = flat.any(1)
        idx = (b[nz]*V + v[nz] + (nb*V)*np.arange(nz.sum())[:,None]).ravel()
        H = np.bincount(idx, minlength=nz.sum()*nb*V).reshape(-1,nb,V).astype(float)
        out.append((n,q,c,H))
    return out
def bits(P, shifts):
    len(shifts)
    s = np.arange(1,R)
    rows = np.clip(s[:,None]+shifts[None,:],1,R-1)   # (R-1, nb)
    C = cost[rows]  # (R-1, nb, V)
    tot=0.0; per={}
    for n,q,c,H in P:
        x = np.einsum('kbv,sbv->ks', H, C).min(1).sum() + c*np.log2(R)
        tot+=x; per[(n,q)] = per.get((n,q),0)+x
    return tot, per
def fit(P, nb):
    shifts=np.zeros(nb,int); best=bits(P,shifts)[0]
    for it in range(3):
        changed=False
        for k in range(nb):
            for s in range(-10,7):
                t=shifts.copy(); t[k]=s; v=bits(P,t)[0]
                if v<best-1e-6: best,shifts,changed=v,t,True
        if not changed: break
    return shifts
for kind in sys.argv[1:]:
    f, nb = make_variant(kind)
    Ptr, Pte = prep(tr,f,nb), prep(te,f,nb)
    sh = fit(Ptr[::2], nb)
    b0,per0 = bits(Pte, np.zeros(nb,int)); b1,per1 = bits(Pte, sh)
    t0,_=bits(Ptr,np.zeros(nb,int)); t1,_=bits(Ptr,sh)
    print(kind, sh.reshape(-1, 1 if kind=="A" else -1).T if kind=="A" else sh, f"train {100*(1-t1/t0):.1f}% test {100*(1-b1/b0):.1f}%")
    print("  ", {k: "%.1f" % (100*(1-per1[k]/per0[k])) for k in per0})
