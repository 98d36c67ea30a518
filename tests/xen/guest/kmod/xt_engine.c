// SPDX-License-Identifier: GPL-2.0
/*
 * xt_engine: a test driver for the simgpu vGPU (1234:1111) in the xvgpu real-Xen tests (issue 7, scenarios 3 and 4).
 * It binds like any PCI driver, takes one MSI vector, puts the engine's command ring, the fence word and its data
 * buffers in guest memory (coherent DMA memory: guest-physical addresses) and exposes two triggers on the device:
 *
 *   echo ROUNDS > /sys/bus/pci/devices/BDF/xt_copy       scenario 3: each round copies a pattern from guest memory
 *   cat /sys/bus/pci/devices/BDF/xt_copy                 into VRAM (checked through BAR0) and another one from VRAM
 *                                                        (written through BAR0) into guest memory, one descriptor at
 *                                                        a time; every checksum verified, MSIs counted exactly.
 *   echo "OPS JOBS" > /sys/bus/pci/devices/BDF/xt_hammer  scenario 4: two kernel threads bound to CPU 0 and CPU 1,
 *   cat /sys/bus/pci/devices/BDF/xt_hammer                each doing OPS register write/read-back checks on its own
 *                                                        DISPI register plus constant-register reads, and JOBS
 *                                                        engine round trips through the shared ring.
 *   echo "BAND STAMP" > /sys/bus/pci/devices/BDF/xt_paint  the migration test: the engine draws band BAND (64 rows
 *   cat /sys/bus/pci/devices/BDF/xt_paint                 of a 1024x768 XRGB frame at VRAM offset 0) of the stamped
 *                                                        test pattern (dom0's xt_pattern.h, xt_stamped), in copies
 *                                                        of 4 rows, the last one with an MSI.
 *
 * Each result is one line of key=value pairs ending in verdict=ok or verdict=FAIL(reasons); the guest task prints
 * it and dom0 compares the counts with xvgpu-dm's statistics. The register layout is the one in
 * src/vendor/simgpu/engine_interface.h and display_registers.h (a C++ header; restated here, a mismatch fails).
 */
#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/wait.h>

/* BAR4: the engine. */
#define ENG_ID 0x00
#define ENG_VERSION 0x04
#define ENG_CONTROL 0x0c
#define ENG_RING_BASE_LO 0x10
#define ENG_RING_BASE_HI 0x14
#define ENG_RING_SIZE 0x18
#define ENG_DOORBELL 0x24
#define ENG_FENCE 0x28
#define ENG_STATUS 0x2c
#define ENG_ERROR_CODE 0x30
#define ENG_ERROR_COUNT 0x34
#define ENG_IRQ_STATUS 0x38
#define ENG_IRQ_MASK 0x3c
#define ENG_FENCE_ADDR_LO 0x40
#define ENG_FENCE_ADDR_HI 0x44
#define ENG_JOBS_COMPLETED 0x48
#define ENGINE_ID 0x31454753u /* "SGE1" */
#define CONTROL_ENABLE 0x1u
#define CONTROL_RESET 0x2u
#define STATUS_ERROR 0x2u
#define STATUS_RING_ERROR 0x4u
#define IRQ_COMPLETION 0x1u
#define IRQ_ERROR 0x2u
#define OP_COPY_TO_VRAM 1
#define OP_COPY_FROM_VRAM 2
#define FLAG_IRQ 0x1u

/* BAR2: DISPI register i at 0x500 + 2 * i (16 bit). */
#define DISPI(i) (0x500 + 2 * (i))
#define DISPI_ID 0x0
#define DISPI_X_OFFSET 0x8 /* thread 0's scratch register (stored as written while the display is off) */
#define DISPI_Y_OFFSET 0x9 /* thread 1's */

struct xt_desc {
	u32 opcode;
	u32 flags;
	u32 seqno;
	u32 reserved0;
	u64 src;
	u64 dst;
	u32 width;
	u32 height;
	u32 src_pitch;
	u32 dst_pitch;
	u32 fill_value;
	u32 reserved1[3];
};
static_assert(sizeof(struct xt_desc) == 64);

#define RING_SIZE 64u /* descriptors; at most two are outstanding (one per submitter) */
#define BUF_LEN (16u * 1024u)
#define VRAM_WINDOW_OFF (8u << 20) /* away from the framebuffer's first frame */
#define VRAM_WINDOW_LEN (256u * 1024u)
#define FENCE_TIMEOUT_MS 20000
#define RESULT_LEN 512
#define MAX_ROUNDS 1024
#define MAX_OPS 100000
#define HAMMER_TIMEOUT_S 180

/* One data buffer pair in guest memory. */
struct xt_buf {
	u8 *src;
	dma_addr_t src_dma;
	u8 *dst;
	dma_addr_t dst_dma;
	u8 *scratch; /* CPU-only: what was read through BAR0 */
};

struct xt_dev {
	struct pci_dev *pdev;
	void __iomem *regs; /* BAR2 */
	void __iomem *eng; /* BAR4 */
	void __iomem *vram; /* BAR0 window at VRAM_WINDOW_OFF */
	struct xt_desc *ring;
	dma_addr_t ring_dma;
	u32 *fence;
	dma_addr_t fence_dma;
	struct xt_buf buf[3]; /* [0] scenario 3, [1] and [2] the hammer threads */
	spinlock_t submit_lock;
	u32 tail;
	u32 next_seq;
	atomic_t irqs; /* MSIs taken by the handler */
	atomic_t restores; /* PM restores seen (save/restore, migration), each binding the MSI again */
	atomic_t irq_causes; /* IRQ_STATUS bits the handler saw */
	wait_queue_head_t irq_wq;
	struct mutex run_lock; /* one test at a time */
	char copy_result[RESULT_LEN];
	char hammer_result[RESULT_LEN];
	char paint_result[RESULT_LEN];
	atomic_t hammer_ops[2]; /* progress of the running hammer threads (xt_progress) */
};

/* FNV-1a, the tests' data checksum. */
static u64 xt_checksum(const u8 *p, size_t n)
{
	u64 h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void xt_pattern(u8 *p, size_t n, u32 seed)
{
	u32 x = seed * 2654435761u + 0x9e3779b9u;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (u8)(x >> 7);
	}
}

/* intx=1: the legacy interrupt line instead of MSI (issue 13: INTx on real Xen). The line may be shared, so the
 * handler then counts only calls that find a cause in IRQ_STATUS; with MSI every call counts, a spurious one too. */
static bool intx;
module_param(intx, bool, 0444);
MODULE_PARM_DESC(intx, "use the legacy INTx line, not MSI");

static irqreturn_t xt_irq(int irq, void *arg)
{
	struct xt_dev *x = arg;
	u32 st = ioread32(x->eng + ENG_IRQ_STATUS);

	if (intx && st == 0)
		return IRQ_NONE;
	iowrite32(st, x->eng + ENG_IRQ_STATUS); /* rw1c: deasserts the INTx line */
	atomic_or((int)st, &x->irq_causes);
	atomic_inc(&x->irqs);
	wake_up_all(&x->irq_wq);
	return IRQ_HANDLED;
}

/* Puts one descriptor at the tail and rings the doorbell; returns its sequence number. */
static u32 xt_submit(struct xt_dev *x, struct xt_desc *d)
{
	unsigned long flags;
	u32 seq;

	spin_lock_irqsave(&x->submit_lock, flags);
	seq = ++x->next_seq;
	d->seqno = seq;
	x->ring[x->tail] = *d;
	x->tail = (x->tail + 1) & (RING_SIZE - 1);
	wmb(); /* the descriptor (and any VRAM written through the WC window) before the doorbell */
	iowrite32(x->tail, x->eng + ENG_DOORBELL);
	spin_unlock_irqrestore(&x->submit_lock, flags);
	return seq;
}

/* Waits until the fence the engine writes back to guest memory reaches seq. */
static bool xt_wait_fence(struct xt_dev *x, u32 seq)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(FENCE_TIMEOUT_MS);

	for (;;) {
		if ((s32)(READ_ONCE(*x->fence) - seq) >= 0)
			return true;
		if (time_after(jiffies, deadline))
			return false;
		usleep_range(20, 100);
	}
}

static void xt_copy_desc(struct xt_desc *d, u32 op, u64 src, u64 dst, u32 len, bool irq)
{
	memset(d, 0, sizeof(*d));
	d->opcode = op;
	d->flags = irq ? FLAG_IRQ : 0;
	d->src = src;
	d->dst = dst;
	d->width = len;
	d->height = 1;
}

/* Runs one descriptor to completion (fence), and with irq also waits for its MSI (expected_irqs reached). */
static int xt_run(struct xt_dev *x, struct xt_desc *d, bool irq, int expected_irqs)
{
	u32 seq = xt_submit(x, d);

	if (!xt_wait_fence(x, seq))
		return -ETIMEDOUT;
	if (irq && !wait_event_timeout(x->irq_wq, atomic_read(&x->irqs) >= expected_irqs,
				       msecs_to_jiffies(FENCE_TIMEOUT_MS)))
		return -ENOMSG;
	return 0;
}

#define APPEND(buf, fmt, ...) scnprintf((buf) + strlen(buf), RESULT_LEN - strlen(buf), fmt, ##__VA_ARGS__)

/* Scenario 3. Round r: pattern A (guest memory) -> VRAM, checked through BAR0; pattern B written to VRAM through
 * BAR0 -> guest memory, checked there. Every fourth round's descriptors ask for no interrupt: the MSI count must
 * equal the flagged descriptors exactly (none lost, none extra). */
static void xt_copy_test(struct xt_dev *x, unsigned int rounds)
{
	struct xt_buf *b = &x->buf[0];
	char *res = x->copy_result;
	char why[160] = "";
	unsigned int r, ok = 0, bad = 0, irq_jobs = 0;
	u32 jobs0, errs0, jobs1, errs1, status;
	int irqs0, irqs, err = 0;
	u64 bytes = 0;
	struct xt_desc d;

	res[0] = 0;
	jobs0 = ioread32(x->eng + ENG_JOBS_COMPLETED);
	errs0 = ioread32(x->eng + ENG_ERROR_COUNT);
	atomic_set(&x->irq_causes, 0);
	irqs0 = atomic_read(&x->irqs);
	for (r = 0; r < rounds && !err; r++) {
		bool irq = (r % 4) != 3;
		u32 off_a = (2 * r * BUF_LEN) % VRAM_WINDOW_LEN;
		u32 off_b = off_a + BUF_LEN;
		u64 want;

		/* guest memory -> VRAM */
		xt_pattern(b->src, BUF_LEN, 2 * r + 1);
		want = xt_checksum(b->src, BUF_LEN);
		xt_copy_desc(&d, OP_COPY_TO_VRAM, b->src_dma, VRAM_WINDOW_OFF + off_a, BUF_LEN, irq);
		irq_jobs += irq;
		err = xt_run(x, &d, irq, irqs0 + irq_jobs);
		if (err) {
			scnprintf(why, sizeof(why), "round-%u-to-vram-%s", r, err == -ENOMSG ? "no-msi" : "no-fence");
			break;
		}
		memcpy_fromio(b->scratch, x->vram + off_a, BUF_LEN);
		if (xt_checksum(b->scratch, BUF_LEN) == want)
			ok++;
		else
			bad++;

		/* VRAM -> guest memory */
		xt_pattern(b->scratch, BUF_LEN, 2 * r + 2);
		want = xt_checksum(b->scratch, BUF_LEN);
		memcpy_toio(x->vram + off_b, b->scratch, BUF_LEN);
		memset(b->dst, 0, BUF_LEN);
		xt_copy_desc(&d, OP_COPY_FROM_VRAM, VRAM_WINDOW_OFF + off_b, b->dst_dma, BUF_LEN, irq);
		irq_jobs += irq;
		err = xt_run(x, &d, irq, irqs0 + irq_jobs);
		if (err) {
			scnprintf(why, sizeof(why), "round-%u-from-vram-%s", r, err == -ENOMSG ? "no-msi" : "no-fence");
			break;
		}
		if (xt_checksum(b->dst, BUF_LEN) == want && memcmp(b->dst, b->scratch, BUF_LEN) == 0)
			ok++;
		else
			bad++;
		bytes += 2 * BUF_LEN;
	}
	/* A late or extra interrupt (say, for an unflagged descriptor) must show up in the count. */
	msleep(300);
	irqs = atomic_read(&x->irqs) - irqs0;
	jobs1 = ioread32(x->eng + ENG_JOBS_COMPLETED);
	errs1 = ioread32(x->eng + ENG_ERROR_COUNT);
	status = ioread32(x->eng + ENG_STATUS);

	APPEND(res, "irq=%s jobs=%u irq_jobs=%u msis=%d checksums_ok=%u checksums_bad=%u bytes=%llu engine_jobs=%u errors=%u",
	       intx ? "intx" : "msi", 2 * r, irq_jobs, irqs, ok, bad, bytes, jobs1 - jobs0, errs1 - errs0);
	APPEND(res, " irq_causes=%#x status=%#x verdict=", atomic_read(&x->irq_causes), status);
	if (!err && bad == 0 && ok == 2 * rounds && irqs == (int)irq_jobs && jobs1 - jobs0 == 2 * rounds &&
	    errs1 == errs0 && !(status & (STATUS_ERROR | STATUS_RING_ERROR)) &&
	    !(atomic_read(&x->irq_causes) & IRQ_ERROR)) {
		APPEND(res, "ok");
		return;
	}
	APPEND(res, "FAIL(%s%s%s%s%s)", why, bad ? " checksum-mismatch" : "",
	       irqs != (int)irq_jobs ? " msi-count" : "", jobs1 - jobs0 != 2 * r ? " engine-job-count" : "",
	       errs1 != errs0 || (status & (STATUS_ERROR | STATUS_RING_ERROR)) ? " engine-error" : "");
}

/* Scenario 4: one hammering thread. */
struct xt_hammer {
	struct xt_dev *x;
	struct task_struct *task;
	struct completion done;
	atomic_t *go;
	atomic_t *last;
	unsigned int id; /* also the CPU it is bound to */
	unsigned int ops;
	unsigned int jobs;
	u16 dispi_id;
	/* results */
	int cpu_start;
	int cpu_end;
	unsigned int ops_done;
	unsigned int reg_bad;
	unsigned int jobs_done;
	unsigned int jobs_bad;
	unsigned int switches; /* times the other thread had the last access before this one */
	int err;
	ktime_t t_start;
	ktime_t t_end;
};

static int xt_hammer_thread(void *arg)
{
	struct xt_hammer *h = arg;
	struct xt_dev *x = h->x;
	struct xt_buf *b = &x->buf[1 + h->id];
	void __iomem *scratch = x->regs + DISPI(h->id == 0 ? DISPI_X_OFFSET : DISPI_Y_OFFSET);
	unsigned int every = h->jobs ? max(1u, h->ops / h->jobs) : 0;
	/* Each thread's own VRAM range, away from scenario 3's. */
	u32 vram_off = VRAM_WINDOW_LEN / 2 + h->id * (VRAM_WINDOW_LEN / 4);
	unsigned int i;
	struct xt_desc d;

	/* Start together: both threads are running before either touches the device. Both were created and bound before
	 * either was woken; the wait yields, so it never starves anything that shares this CPU. */
	atomic_inc(h->go);
	while (atomic_read(h->go) < 2)
		cond_resched();
	h->cpu_start = raw_smp_processor_id();
	h->t_start = ktime_get();
	for (i = 0; i < h->ops; i++) {
		u16 v = (u16)((i * 40503u + h->id * 0x3c6fu + 1u) & 0x7fff);

		iowrite16(v, scratch);
		if (ioread16(scratch) != v)
			h->reg_bad++;
		if (i & 1) {
			if (ioread32(x->eng + ENG_ID) != ENGINE_ID)
				h->reg_bad++;
		} else if (ioread16(x->regs + DISPI(DISPI_ID)) != h->dispi_id) {
			h->reg_bad++;
		}
		if (atomic_xchg(h->last, (int)h->id) != (int)h->id)
			h->switches++;
		h->ops_done++;
		atomic_set(&x->hammer_ops[h->id], (int)h->ops_done);
		cond_resched();
		if (every && (i % every) == every - 1 && h->jobs_done < h->jobs) {
			/* A round trip through VRAM: guest memory -> VRAM -> guest memory. */
			xt_pattern(b->src, BUF_LEN, 0x1000 * (h->id + 1) + i);
			memset(b->dst, 0, BUF_LEN);
			xt_copy_desc(&d, OP_COPY_TO_VRAM, b->src_dma, VRAM_WINDOW_OFF + vram_off, BUF_LEN, true);
			h->err = xt_run(x, &d, false, 0);
			if (!h->err) {
				xt_copy_desc(&d, OP_COPY_FROM_VRAM, VRAM_WINDOW_OFF + vram_off, b->dst_dma, BUF_LEN, true);
				h->err = xt_run(x, &d, false, 0);
			}
			if (h->err)
				break;
			if (memcmp(b->src, b->dst, BUF_LEN) != 0)
				h->jobs_bad++;
			h->jobs_done++;
		}
	}
	h->t_end = ktime_get();
	h->cpu_end = raw_smp_processor_id();
	complete(&h->done);
	return 0;
}

/* The two threads' state; on the heap, so that a thread stuck in the device can be left behind safely. */
struct xt_hammer_run {
	struct xt_hammer h[2];
	atomic_t go;
	atomic_t last;
};

static void xt_hammer_test(struct xt_dev *x, unsigned int ops, unsigned int jobs)
{
	struct xt_hammer_run *run;
	struct xt_hammer *h;
	char *res = x->hammer_result;
	u32 jobs0, jobs1, errs0, errs1;
	int irqs0, irqs, t;
	unsigned long deadline;
	s64 overlap_us;
	bool ok = true;

	res[0] = 0;
	if (num_online_cpus() < 2 || !cpu_online(0) || !cpu_online(1)) {
		APPEND(res, "cpus=%u verdict=FAIL(needs-cpu-0-and-1-online)", num_online_cpus());
		return;
	}
	run = kzalloc(sizeof(*run), GFP_KERNEL);
	if (!run) {
		APPEND(res, "verdict=FAIL(no-memory)");
		return;
	}
	h = run->h;
	atomic_set(&run->go, 0);
	atomic_set(&run->last, -1);
	jobs0 = ioread32(x->eng + ENG_JOBS_COMPLETED);
	errs0 = ioread32(x->eng + ENG_ERROR_COUNT);
	irqs0 = atomic_read(&x->irqs);
	for (t = 0; t < 2; t++) {
		atomic_set(&x->hammer_ops[t], 0);
		h[t].x = x;
		h[t].id = t;
		h[t].ops = ops;
		h[t].jobs = jobs;
		h[t].go = &run->go;
		h[t].last = &run->last;
		h[t].dispi_id = ioread16(x->regs + DISPI(DISPI_ID));
		h[t].cpu_start = h[t].cpu_end = -1;
		init_completion(&h[t].done);
		h[t].task = kthread_create(xt_hammer_thread, &h[t], "xt_hammer/%d", t);
		if (IS_ERR(h[t].task)) {
			APPEND(res, "verdict=FAIL(kthread_create-%ld)", PTR_ERR(h[t].task));
			if (t == 1)
				kthread_stop(h[0].task); /* never woken: it ends without running its function */
			kfree(run);
			return;
		}
		kthread_bind(h[t].task, t);
	}
	/* Both exist and are bound before either runs. */
	wake_up_process(h[0].task);
	wake_up_process(h[1].task);
	deadline = jiffies + HAMMER_TIMEOUT_S * HZ;
	for (t = 0; t < 2; t++) {
		long left = (long)(deadline - jiffies);

		if (left <= 0 || !wait_for_completion_timeout(&h[t].done, left)) {
			/* A thread is stuck (in a device access or waiting for its partner): report, keep its state and
			 * this module alive for good, since the thread may still run. */
			__module_get(THIS_MODULE);
			APPEND(res, "t0_ops=%d t1_ops=%d verdict=FAIL(thread-%d-stuck-after-%ds)",
			       atomic_read(&x->hammer_ops[0]), atomic_read(&x->hammer_ops[1]), t, HAMMER_TIMEOUT_S);
			return;
		}
	}
	msleep(300);
	irqs = atomic_read(&x->irqs) - irqs0;
	jobs1 = ioread32(x->eng + ENG_JOBS_COMPLETED);
	errs1 = ioread32(x->eng + ENG_ERROR_COUNT);
	/* Restore the scratch registers (the bochs driver programs them again anyway). */
	iowrite16(0, x->regs + DISPI(DISPI_X_OFFSET));
	iowrite16(0, x->regs + DISPI(DISPI_Y_OFFSET));

	overlap_us = ktime_us_delta(min(h[0].t_end, h[1].t_end), max(h[0].t_start, h[1].t_start));
	for (t = 0; t < 2; t++) {
		APPEND(res, "t%d_cpu=%d/%d t%d_ops=%u t%d_reg_bad=%u t%d_jobs=%u t%d_jobs_bad=%u t%d_switches=%u t%d_us=%lld ",
		       t, h[t].cpu_start, h[t].cpu_end, t, h[t].ops_done, t, h[t].reg_bad, t, h[t].jobs_done, t,
		       h[t].jobs_bad, t, h[t].switches, t, ktime_us_delta(h[t].t_end, h[t].t_start));
		ok = ok && h[t].cpu_start == t && h[t].cpu_end == t && h[t].ops_done == ops && h[t].reg_bad == 0 &&
		     h[t].jobs_done == jobs && h[t].jobs_bad == 0 && !h[t].err;
	}
	APPEND(res, "overlap_us=%lld descriptors=%u engine_jobs=%u errors=%u msis=%d verdict=", overlap_us, 4 * jobs,
	       jobs1 - jobs0, errs1 - errs0, irqs);
	/* Both threads ran at the same time and their accesses interleaved. */
	ok = ok && overlap_us > 0 && h[0].switches > 0 && h[1].switches > 0;
	/* Completions raced each other here, so MSIs may coalesce in the guest's local APIC: at least one, at most one
	 * per descriptor (dom0 checks the device's count exactly). */
	ok = ok && jobs1 - jobs0 == 4 * jobs && errs1 == errs0 && (jobs == 0 || (irqs >= 1 && irqs <= (int)(4 * jobs)));
	if (ok)
		APPEND(res, "ok");
	else
		APPEND(res, "FAIL(%s%s)", h[0].err || h[1].err ? "engine-timeout " : "", "see-counts");
	kfree(run);
}

/* The migration test's frame: 1024x768 XRGB8888, stride 4096, drawn in 12 bands of 64 rows. xt_stamped() is
 * tests/xen/guest/xt_pattern.h's, restated (dom0's xt-pngcheck compares the screenshot with it). */
#define PAINT_WIDTH 1024u
#define PAINT_BANDS 12u
#define PAINT_BAND_ROWS 64u
#define PAINT_CHUNK_ROWS (BUF_LEN / (PAINT_WIDTH * 4u))

static u32 xt_stamped(u32 x, u32 y, u32 stamp)
{
	u32 r = x & 0xffu, g = y & 0xffu;
	u32 b = ((((x >> 8) & 3u) | (((y >> 8) & 3u) << 2)) << 4) | ((x + y) & 0xfu);

	return ((r << 16) | (g << 8) | b) ^ ((stamp * 0x9e3779b1u) & 0xffffffu);
}

static void xt_paint_band(struct xt_dev *x, u32 band, u32 stamp)
{
	struct xt_buf *b = &x->buf[0];
	char *res = x->paint_result;
	u32 y0 = band * PAINT_BAND_ROWS, y, jobs0, jobs1, errs0, errs1, n = 0;
	int irqs0, irqs, err = 0;
	struct xt_desc d;

	res[0] = 0;
	jobs0 = ioread32(x->eng + ENG_JOBS_COMPLETED);
	errs0 = ioread32(x->eng + ENG_ERROR_COUNT);
	irqs0 = atomic_read(&x->irqs);
	for (y = y0; y < y0 + PAINT_BAND_ROWS && !err; y += PAINT_CHUNK_ROWS) {
		u32 *px = (u32 *)b->src, r, c;
		bool last = y + PAINT_CHUNK_ROWS >= y0 + PAINT_BAND_ROWS;

		for (r = 0; r < PAINT_CHUNK_ROWS; r++)
			for (c = 0; c < PAINT_WIDTH; c++)
				px[r * PAINT_WIDTH + c] = cpu_to_le32(xt_stamped(c, y + r, stamp));
		xt_copy_desc(&d, OP_COPY_TO_VRAM, b->src_dma, (u64)y * PAINT_WIDTH * 4u, BUF_LEN, last);
		err = xt_run(x, &d, last, irqs0 + 1);
		n++;
	}
	msleep(50); /* an extra interrupt shows up in the count */
	irqs = atomic_read(&x->irqs) - irqs0;
	jobs1 = ioread32(x->eng + ENG_JOBS_COMPLETED);
	errs1 = ioread32(x->eng + ENG_ERROR_COUNT);
	APPEND(res, "band=%u stamp=%u jobs=%u irq_jobs=1 msis=%d engine_jobs=%u errors=%u verdict=%s", band, stamp, n,
	       irqs, jobs1 - jobs0, errs1 - errs0,
	       !err && irqs == 1 && jobs1 - jobs0 == n && errs1 == errs0 ? "ok" :
	       err == -ENOMSG ? "FAIL(no-msi)" : err ? "FAIL(no-fence)" : "FAIL(counts)");
}

/* A test's last result line, or "not-run"; under run_lock, so never one being written. */
static ssize_t xt_show_result(struct xt_dev *x, char *buf, const char *result)
{
	ssize_t n;

	mutex_lock(&x->run_lock);
	n = sysfs_emit(buf, "%s\n", result[0] ? result : "not-run");
	mutex_unlock(&x->run_lock);
	return n;
}

static ssize_t xt_paint_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct xt_dev *x = dev_get_drvdata(dev);

	return xt_show_result(x, buf, x->paint_result);
}

static ssize_t xt_paint_store(struct device *dev, struct device_attribute *attr, const char *buf, size_t count)
{
	struct xt_dev *x = dev_get_drvdata(dev);
	unsigned int band, stamp;

	if (sscanf(buf, "%u %u", &band, &stamp) != 2 || band >= PAINT_BANDS)
		return -EINVAL;
	if (pci_resource_len(x->pdev, 0) < PAINT_BANDS * PAINT_BAND_ROWS * PAINT_WIDTH * 4u)
		return -ENOSPC;
	mutex_lock(&x->run_lock);
	xt_paint_band(x, band, stamp);
	mutex_unlock(&x->run_lock);
	return count;
}
static DEVICE_ATTR_RW(xt_paint);

static ssize_t xt_copy_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct xt_dev *x = dev_get_drvdata(dev);

	return xt_show_result(x, buf, x->copy_result);
}

static ssize_t xt_copy_store(struct device *dev, struct device_attribute *attr, const char *buf, size_t count)
{
	struct xt_dev *x = dev_get_drvdata(dev);
	unsigned int rounds;

	if (kstrtouint(buf, 0, &rounds) || rounds == 0 || rounds > MAX_ROUNDS)
		return -EINVAL;
	mutex_lock(&x->run_lock);
	xt_copy_test(x, rounds);
	dev_info(dev, "xt_copy: %s\n", x->copy_result);
	mutex_unlock(&x->run_lock);
	return count;
}
static DEVICE_ATTR_RW(xt_copy);

static ssize_t xt_hammer_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct xt_dev *x = dev_get_drvdata(dev);

	return xt_show_result(x, buf, x->hammer_result);
}

static ssize_t xt_hammer_store(struct device *dev, struct device_attribute *attr, const char *buf, size_t count)
{
	struct xt_dev *x = dev_get_drvdata(dev);
	unsigned int ops, jobs;

	if (sscanf(buf, "%u %u", &ops, &jobs) != 2 || ops == 0 || ops > MAX_OPS || jobs > ops)
		return -EINVAL;
	mutex_lock(&x->run_lock);
	xt_hammer_test(x, ops, jobs);
	dev_info(dev, "xt_hammer: %s\n", x->hammer_result);
	mutex_unlock(&x->run_lock);
	return count;
}
static DEVICE_ATTR_RW(xt_hammer);

/* Progress of a running hammer (no lock: the test holds it). */
static ssize_t xt_progress_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct xt_dev *x = dev_get_drvdata(dev);

	return sysfs_emit(buf, "t0_ops=%d t1_ops=%d msis=%d fence=%u\n", atomic_read(&x->hammer_ops[0]),
			  atomic_read(&x->hammer_ops[1]), atomic_read(&x->irqs), READ_ONCE(*x->fence));
}
static DEVICE_ATTR_RO(xt_progress);

static ssize_t xt_restores_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct xt_dev *x = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%d\n", atomic_read(&x->restores));
}
static DEVICE_ATTR_RO(xt_restores);

static struct attribute *xt_attrs[] = { &dev_attr_xt_copy.attr, &dev_attr_xt_hammer.attr,
					&dev_attr_xt_progress.attr, &dev_attr_xt_paint.attr,
					&dev_attr_xt_restores.attr, NULL };
ATTRIBUTE_GROUPS(xt);

static int xt_alloc_buf(struct xt_dev *x, struct xt_buf *b)
{
	struct device *dev = &x->pdev->dev;

	b->src = dmam_alloc_coherent(dev, BUF_LEN, &b->src_dma, GFP_KERNEL);
	b->dst = dmam_alloc_coherent(dev, BUF_LEN, &b->dst_dma, GFP_KERNEL);
	b->scratch = devm_kzalloc(dev, BUF_LEN, GFP_KERNEL);
	return b->src && b->dst && b->scratch ? 0 : -ENOMEM;
}

static int xt_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct device *dev = &pdev->dev;
	struct xt_dev *x;
	u32 eng_id, version;
	int err, i;

	x = devm_kzalloc(dev, sizeof(*x), GFP_KERNEL);
	if (!x)
		return -ENOMEM;
	x->pdev = pdev;
	spin_lock_init(&x->submit_lock);
	init_waitqueue_head(&x->irq_wq);
	mutex_init(&x->run_lock);
	pci_set_drvdata(pdev, x);

	err = pcim_enable_device(pdev);
	if (err)
		return dev_err_probe(dev, err, "enable\n");
	err = pcim_iomap_regions(pdev, BIT(2) | BIT(4), "xt_engine");
	if (err)
		return dev_err_probe(dev, err, "BAR2/BAR4\n");
	x->regs = pcim_iomap_table(pdev)[2];
	x->eng = pcim_iomap_table(pdev)[4];
	if (pci_resource_len(pdev, 0) < VRAM_WINDOW_OFF + VRAM_WINDOW_LEN)
		return dev_err_probe(dev, -ENODEV, "BAR0 too small\n");
	x->vram = devm_ioremap_wc(dev, pci_resource_start(pdev, 0) + VRAM_WINDOW_OFF, VRAM_WINDOW_LEN);
	if (!x->vram)
		return dev_err_probe(dev, -ENOMEM, "BAR0 window\n");
	pci_set_master(pdev);
	err = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64));
	if (err)
		return dev_err_probe(dev, err, "DMA mask\n");

	eng_id = ioread32(x->eng + ENG_ID);
	version = ioread32(x->eng + ENG_VERSION);
	if (eng_id != ENGINE_ID)
		return dev_err_probe(dev, -ENODEV, "engine ID %#x, expected %#x\n", eng_id, ENGINE_ID);

	x->ring = dmam_alloc_coherent(dev, RING_SIZE * sizeof(struct xt_desc), &x->ring_dma, GFP_KERNEL);
	x->fence = dmam_alloc_coherent(dev, sizeof(u32), &x->fence_dma, GFP_KERNEL);
	if (!x->ring || !x->fence)
		return -ENOMEM;
	for (i = 0; i < 3; i++) {
		err = xt_alloc_buf(x, &x->buf[i]);
		if (err)
			return err;
	}

	err = pci_alloc_irq_vectors(pdev, 1, 1, intx ? PCI_IRQ_LEGACY : PCI_IRQ_MSI);
	if (err < 0)
		return dev_err_probe(dev, err, intx ? "no INTx line\n" : "no MSI vector\n");
	err = devm_request_irq(dev, pci_irq_vector(pdev, 0), xt_irq, intx ? IRQF_SHARED : 0, "xt_engine", x);
	if (err)
		return dev_err_probe(dev, err, "request_irq\n");

	/* The ring, the fence write-back and completion/error interrupts; a stopped engine first (whatever earlier
	 * guest programs left behind). */
	iowrite32(CONTROL_RESET, x->eng + ENG_CONTROL);
	iowrite32(lower_32_bits(x->ring_dma), x->eng + ENG_RING_BASE_LO);
	iowrite32(upper_32_bits(x->ring_dma), x->eng + ENG_RING_BASE_HI);
	iowrite32(RING_SIZE, x->eng + ENG_RING_SIZE);
	iowrite32(lower_32_bits(x->fence_dma), x->eng + ENG_FENCE_ADDR_LO);
	iowrite32(upper_32_bits(x->fence_dma), x->eng + ENG_FENCE_ADDR_HI);
	iowrite32(IRQ_COMPLETION | IRQ_ERROR, x->eng + ENG_IRQ_STATUS);
	iowrite32(IRQ_COMPLETION | IRQ_ERROR, x->eng + ENG_IRQ_MASK);
	iowrite32(CONTROL_ENABLE, x->eng + ENG_CONTROL);
	*x->fence = ioread32(x->eng + ENG_FENCE);
	x->next_seq = *x->fence;
	dev_info(dev, "engine %#x v%u, ring %pad, %s irq %d\n", eng_id, version, &x->ring_dma, intx ? "INTx" : "MSI",
		 pci_irq_vector(pdev, 0));
	return 0;
}

static void xt_remove(struct pci_dev *pdev)
{
	struct xt_dev *x = pci_get_drvdata(pdev);

	/* Stop the engine before the ring and buffers go back to the kernel. */
	iowrite32(CONTROL_RESET, x->eng + ENG_CONTROL);
	iowrite32(0, x->eng + ENG_IRQ_MASK);
	iowrite32(0, x->eng + ENG_FENCE_ADDR_LO);
	iowrite32(0, x->eng + ENG_FENCE_ADDR_HI);
}

/*
 * Xen before 4.19 routes an HVM guest's MSIs over event channels (PIRQs), and after a save/restore or a migration
 * Linux binds only the GSI PIRQs again (restore_pirqs): an MSI PIRQ keeps no event channel on the new domain and the
 * device's MSIs go nowhere. Freeing and requesting the interrupt binds it there. INTx lines are GSIs: nothing to do.
 */
static int xt_pm_restore(struct device *dev)
{
	struct pci_dev *pdev = to_pci_dev(dev);
	struct xt_dev *x = pci_get_drvdata(pdev);
	int irq = pci_irq_vector(pdev, 0);
	int err;

	atomic_inc(&x->restores);
	if (intx)
		return 0;
	devm_free_irq(dev, irq, x);
	err = devm_request_irq(dev, irq, xt_irq, 0, "xt_engine", x);
	if (err)
		dev_err(dev, "MSI not bound again after the restore: %d\n", err);
	else
		dev_info(dev, "MSI bound again after the restore (irq %d)\n", irq);
	return err;
}

static const struct dev_pm_ops xt_pm_ops = {
	.restore = xt_pm_restore,
};

static const struct pci_device_id xt_ids[] = {
	{ PCI_DEVICE(0x1234, 0x1111) },
	{}
};
MODULE_DEVICE_TABLE(pci, xt_ids);

static struct pci_driver xt_driver = {
	.name = "xt_engine",
	.id_table = xt_ids,
	.probe = xt_probe,
	.remove = xt_remove,
	.dev_groups = xt_groups,
	.driver.pm = &xt_pm_ops,
};
module_pci_driver(xt_driver);

MODULE_DESCRIPTION("xvgpu real-Xen test driver for the simgpu engine");
MODULE_LICENSE("GPL");
