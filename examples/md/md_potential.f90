! md_potential.f90: a small equivariant message-passing potential on oeq.
!
! Random but FIXED weights (md_rng: the same numbers on every rank). For an
! atom i with neighbours j within rc (edge vector r = x_j - x_i, d = |r|,
! u = r / d; ghosts included as senders):
!   Y(u)       real spherical harmonics l = 0, 1, 2 (0e+1o+2e, e3nn's order
!              and component normalization: Y1 = sqrt(3) (x, y, z), ...)
!   R_k(d)     f_env(d) * sum_b W_kb B_b(d): 8 Bessel functions times a
!              polynomial envelope, one set of W per layer (md_edge.f90)
!   layer 1    m1 = conv(h0, Y, R1): h0 = C scalars (one species), channelwise
!              uvu to 0e+1o+2e, so m1 is Cx0e+Cx1o+Cx2e
!   update     s = m1 / n_avg; h1 = [tanh(A0 s0 + b0), A1 s1, A2 s2]
!              (channel mixing per l: equivariant)
!   halo       h1 of the ghosts comes from their owners (forward_comm)
!   layer 2    m2 = conv(h1, Y, R2): uvu to 0e+1o+2e (11 paths)
!   readout    E_i = k_ml (p . h1_0e + q . tanh(t_0e) + sum_g r_g tanh(|t_g|^2))
!              with t = m2 / n_avg, g over its 1o and 2e blocks
!   pair       + sum_j A (1 - d/rc)^4 / 2: a short repulsive core (as MACE's
!              optional ZBL term) keeps atoms of a random model apart.
! Forces: the gradient of E flows back through oeq's conv_backward (dx, dy,
! dw) of layer 2, then the ghosts' dh1 go back to their owners
! (reverse_comm), through the node update, through layer 1's backward (dy,
! dw), and then by hand through Y(u(r)) and R(d(r)) onto the edge vectors;
! the two ends of every edge get -+ that gradient, and the ghosts' forces
! go back to their owners (reverse_comm).
!
! Both layers run on oeq's fused convolution in float64 with the
! deterministic flag (edges sorted by receiver, sender_perm sorts them by
! sender): x_rows = owned + ghost atoms, z_rows = owned atoms. On the CUDA
! backend the arrays are copied into device memory allocated from Fortran
! (md_gpu.c) and passed through the type(c_ptr) overloads (md_oeqcall.f90;
! --backend cpu-ptr takes the same path with host memory and CPU plans).
module md_potential
  use, intrinsic :: iso_c_binding
  use, intrinsic :: iso_fortran_env, only: dp => real64
  use mpi_f08
  use oeq
  use md_rng
  use md_domain
  use md_graph
  use md_edge
  use md_oeqcall
  implicit none
  private
  public :: potential_t, potential_init, potential_compute, potential_free

  type :: potential_t
    integer :: nc = 8
    real(dp) :: rc = 1.6_dp, n_avg = 16, k_ml = 1, a_pair = 50
    logical :: use_pair = .true., use_ml = .true.
    integer(c_int) :: backend = OEQ_BACKEND_CPU
    integer :: device = 0
    type(oeq_plan) :: plan1, plan2
    integer :: z1_dim = 0, w1_n = 0, x2_dim = 0, z2_dim = 0, w2_n = 0
    real(dp), allocatable :: emb(:), wr1(:, :), wr2(:, :), a0(:, :), a1(:, :), a2(:, :), b0(:)
    real(dp), allocatable :: p_out(:), q_out(:), r_out(:)
    type(oeq_calls_t) :: calls
    integer :: n_edges = 0
  end type potential_t

contains

  ! Weights and the two oeq plans. Plan creation is staged so that ranks do
  ! not all compile the same kernels at once on a cold cache: world rank 0
  ! first (it fills OEQ_CACHE_DIR), then the first rank of every other node
  ! (a node-local cache directory gets filled once per node), then all the
  ! others, which find the kernels on disk. MPI_Barrier between the stages.
  ! (The CPU backend compiles nothing; the stages then cost three barriers.)
  subroutine potential_init(pot, nc, backend, device, via_ptr, comm, verbose)
    type(potential_t), intent(inout) :: pot
    integer, intent(in) :: nc, device
    integer(c_int), intent(in) :: backend
    logical, intent(in) :: via_ptr
    type(MPI_Comm), intent(in) :: comm
    logical, intent(in) :: verbose
    type(MPI_Comm) :: node
    integer :: rank, local_rank, stage, my_stage, i, j
    real(dp) :: t0, t_plans
    integer, parameter :: seed = 20261206
    pot%nc = nc
    pot%backend = backend
    pot%device = device
    pot%calls%via_ptr = via_ptr .or. backend /= OEQ_BACKEND_CPU
    allocate(pot%emb(nc), pot%wr1(3 * nc, n_basis), pot%wr2(11 * nc, n_basis), pot%a0(nc, nc), &
        pot%a1(nc, nc), pot%a2(nc, nc), pot%b0(nc), pot%p_out(nc), pot%q_out(3 * nc), &
        pot%r_out(8 * nc))
    do i = 1, nc
      pot%emb(i) = 1 + 0.5_dp * gaussian(seed, 1, i)
      pot%b0(i) = 0.1_dp * gaussian(seed, 2, i)
      pot%p_out(i) = gaussian(seed, 3, i) / sqrt(real(nc, dp))
      do j = 1, nc
        pot%a0(i, j) = 1.5_dp * gaussian(seed, 4, (i - 1) * nc + j) / sqrt(real(nc, dp))
        pot%a1(i, j) = gaussian(seed, 5, (i - 1) * nc + j) / sqrt(real(nc, dp))
        pot%a2(i, j) = gaussian(seed, 6, (i - 1) * nc + j) / sqrt(real(nc, dp))
      end do
    end do
    do i = 1, 3 * nc
      pot%q_out(i) = gaussian(seed, 7, i) / sqrt(real(3 * nc, dp))
      do j = 1, n_basis
        pot%wr1(i, j) = 2 * gaussian(seed, 8, (i - 1) * n_basis + j) / sqrt(real(n_basis, dp))
      end do
    end do
    do i = 1, 8 * nc
      pot%r_out(i) = gaussian(seed, 10, i) / sqrt(real(8 * nc, dp))
    end do
    do i = 1, 11 * nc
      do j = 1, n_basis
        pot%wr2(i, j) = 2 * gaussian(seed, 9, (i - 1) * n_basis + j) / sqrt(real(n_basis, dp))
      end do
    end do

    call MPI_Comm_rank(comm, rank)
    call MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, node)
    call MPI_Comm_rank(node, local_rank)
    call MPI_Comm_free(node)
    t_plans = 0
    do stage = 1, 3
      if ((stage == 1 .and. rank == 0) .or. (stage == 2 .and. rank /= 0 .and. local_rank == 0) &
          .or. (stage == 3 .and. local_rank /= 0)) then
        t0 = MPI_Wtime()
        call make_plans(pot)
        t_plans = MPI_Wtime() - t0
        my_stage = stage
      end if
      call MPI_Barrier(comm)
    end do
    if (verbose) write(*, '(a,i0,a,i0,a,i0,a,f0.3,a)') 'md: rank ', rank, ' (node rank ', &
        local_rank, ') created its plans in stage ', my_stage, ' in ', t_plans, ' s'
  end subroutine potential_init

  subroutine make_plans(pot)
    type(potential_t), intent(inout) :: pot
    type(oeq_problem) :: p1, p2
    character(len=64) :: s1, s2
    integer(c_int64_t) :: xd, yd, zd
    integer :: st
    write(s1, '(i0,a)') pot%nc, 'x0e'
    write(s2, '(3(i0,a))') pot%nc, 'x0e+', pot%nc, 'x1o+', pot%nc, 'x2e'
    call p1%create_channelwise(trim(s1), '0e+1o+2e', '0e+1o+2e')
    call p1%set_dtypes(OEQ_FLOAT64, OEQ_FLOAT64)
    call p2%create_channelwise(trim(s2), '0e+1o+2e', '0e+1o+2e')
    call p2%set_dtypes(OEQ_FLOAT64, OEQ_FLOAT64)
    call p1%dims(xd, yd, zd)
    pot%z1_dim = int(zd)
    pot%w1_n = int(p1%weight_numel())
    call p2%dims(xd, yd, zd)
    pot%x2_dim = int(xd)
    pot%z2_dim = int(zd)
    pot%w2_n = int(p2%weight_numel())
    ! What the node update and the readout assume about the layouts.
    ! Layer 2 has 11 paths: 3 to 0e (l x l), 4 to 1o, 4 to 2e; its output
    ! is sorted: 3C scalars, then 4C vectors, then 4C l = 2 blocks.
    if (pot%z1_dim /= 9 * pot%nc .or. pot%x2_dim /= 9 * pot%nc .or. pot%z2_dim /= 35 * pot%nc &
        .or. pot%w1_n /= 3 * pot%nc .or. pot%w2_n /= 11 * pot%nc .or. yd /= y_dim) &
        call md_die('unexpected problem dimensions')
    call pot%plan1%create_conv(p1, pot%backend, pot%device, OEQ_CONV_DETERMINISTIC, stat=st)
    if (st == OEQ_SUCCESS) &
        call pot%plan2%create_conv(p2, pot%backend, pot%device, OEQ_CONV_DETERMINISTIC, stat=st)
    if (st /= OEQ_SUCCESS) call md_die('plan creation: ' // oeq_error_message())
  end subroutine make_plans

  subroutine potential_free(pot)
    type(potential_t), intent(inout) :: pot
    call pot%plan1%destroy()
    call pot%plan2%destroy()
    call calls_free(pot%calls)
  end subroutine potential_free

  ! Energy (the same on every rank: summed over ranks) and forces on the
  ! owned atoms f(3, nlocal). Ghosts must be current (domain_borders).
  subroutine potential_compute(pot, d, energy, f)
    type(potential_t), intent(inout) :: pot
    type(domain_t), intent(in) :: d
    real(dp), intent(out) :: energy
    real(dp), intent(out) :: f(:, :)
    integer(c_int32_t), allocatable :: rows(:), cols(:), perm(:)
    real(dp), allocatable :: rv(:, :), y(:, :), w1(:, :), w2(:, :), dw1dd(:, :), dw2dd(:, :)
    real(dp), allocatable :: dy(:, :), dwa(:, :), dwb(:, :), fall(:, :)
    real(dp), allocatable :: dist(:)
    real(dp) :: e_local
    integer :: na, ne, e
    na = d%nlocal + d%nghost
    call neighbours(d, pot%rc, rows, cols, rv)
    ne = size(rows)
    pot%n_edges = ne
    call sender_sort(cols, na, perm)
    allocate(y(y_dim, ne), w1(pot%w1_n, ne), w2(pot%w2_n, ne), dw1dd(pot%w1_n, ne), &
        dw2dd(pot%w2_n, ne), dy(y_dim, ne), dwa(pot%w1_n, ne), dwb(pot%w2_n, ne), fall(3, na), &
        dist(ne))
    do e = 1, ne
      dist(e) = norm2(rv(:, e))
      y(:, e) = sph(rv(:, e) / dist(e))
    end do
    call radial(pot%wr1, pot%rc, dist, w1, dw1dd)
    call radial(pot%wr2, pot%rc, dist, w2, dw2dd)
    e_local = 0
    dy = 0
    dwa = 0
    dwb = 0
    if (pot%use_ml) call message_passing(pot, d, rows, cols, perm, y, w1, w2, e_local, dy, dwa, dwb)
    call edge_forces(pot, rows, cols, rv, dy, dwa, dw1dd, dwb, dw2dd, e_local, fall)
    ! Forces that landed on ghosts go back to their owners.
    call reverse_comm(d, fall)
    f(:, 1:d%nlocal) = fall(:, 1:d%nlocal)
    call MPI_Allreduce(e_local, energy, 1, MPI_DOUBLE_PRECISION, MPI_SUM, d%comm)
  end subroutine potential_compute

  ! The two layers forward, the readout's energy added to e, and backward to
  ! dE/dY (dy) and dE/dw of both layers (dwa, dwb) per edge.
  subroutine message_passing(pot, d, rows, cols, perm, y, w1, w2, e, dy, dwa, dwb)
    type(potential_t), intent(inout) :: pot
    type(domain_t), intent(in) :: d
    integer(c_int32_t), intent(in) :: rows(:), cols(:), perm(:)
    real(dp), intent(in) :: y(:, :), w1(:, :), w2(:, :)
    real(dp), intent(inout) :: e
    real(dp), intent(out) :: dy(:, :), dwa(:, :), dwb(:, :)
    real(dp), allocatable :: x0(:, :), z1(:, :), h1(:, :), z2(:, :), dz2(:, :), dh1(:, :)
    real(dp), allocatable :: dz1(:, :), dx0(:, :), dy1(:, :)
    integer :: nl, na, nc, i
    nl = d%nlocal
    na = d%nlocal + d%nghost
    nc = pot%nc
    call put_edges(pot%calls, rows, cols, perm, y, w1, w2)
    ! Layer 1: every atom starts from the same embedding, ghosts included.
    allocate(x0(nc, na), z1(pot%z1_dim, nl), h1(pot%x2_dim, na), z2(pot%z2_dim, nl))
    do i = 1, na
      x0(:, i) = pot%emb
    end do
    call conv_fwd(pot%calls, pot%plan1, x0, b_w1, w1, y, rows, cols, perm, z1)
    h1 = 0
    do i = 1, nl
      call node_update(pot, z1(:, i) / pot%n_avg, h1(:, i))
    end do
    ! The halo exchange between the layers: ghosts' h1 from their owners.
    call forward_comm(d, h1)
    call conv_fwd(pot%calls, pot%plan2, h1, b_w2, w2, y, rows, cols, perm, z2)
    allocate(dz2(pot%z2_dim, nl))
    do i = 1, nl
      call readout(pot, h1(1:nc, i), z2(:, i), e, dz2(:, i))
    end do
    ! Backward through layer 2, then the ghosts' dh1 back to their owners.
    allocate(dh1(pot%x2_dim, na), dy1(size(dy, 1), size(dy, 2)))
    call conv_bwd(pot%calls, pot%plan2, h1, b_w2, w2, y, dz2, rows, cols, perm, dh1, dy, dwb)
    call reverse_comm(d, dh1)
    allocate(dz1(pot%z1_dim, nl), dx0(nc, na))
    do i = 1, nl
      dh1(1:nc, i) = dh1(1:nc, i) + pot%k_ml * pot%p_out
      call node_update_grad(pot, h1(:, i), dh1(:, i), dz1(:, i))
      dz1(:, i) = dz1(:, i) / pot%n_avg
    end do
    ! Layer 1's node input is a constant: its dx is not needed.
    call conv_bwd(pot%calls, pot%plan1, x0, b_w1, w1, y, dz1, rows, cols, perm, dx0, dy1, dwa)
    dy = dy + dy1
  end subroutine message_passing

  ! Per edge: g = dE/dr (r = x_j - x_i) from dE/dY and dE/dw through Y(u(r))
  ! and R(|r|), plus the pair term (its energy added to e); -g on the
  ! sender j, +g on the receiver i, into fall(3, owned + ghosts).
  subroutine edge_forces(pot, rows, cols, rv, dy, dwa, dw1dd, dwb, dw2dd, e, fall)
    type(potential_t), intent(in) :: pot
    integer(c_int32_t), intent(in) :: rows(:), cols(:)
    real(dp), intent(in) :: rv(:, :), dy(:, :), dwa(:, :), dw1dd(:, :), dwb(:, :), dw2dd(:, :)
    real(dp), intent(inout) :: e
    real(dp), intent(out) :: fall(:, :)
    real(dp) :: dist, u(3), g(3), t, env
    integer :: k, i, j
    fall = 0
    do k = 1, size(rows)
      i = rows(k) + 1
      j = cols(k) + 1
      dist = norm2(rv(:, k))
      u = rv(:, k) / dist
      g = sph_grad(u, dist, dy(:, k))
      t = dot_product(dwa(:, k), dw1dd(:, k)) + dot_product(dwb(:, k), dw2dd(:, k))
      if (pot%use_pair .and. dist < pot%rc) then
        ! Each pair is an edge on both atoms' owners: half the energy on each.
        env = 1 - dist / pot%rc
        e = e + 0.5_dp * pot%a_pair * env**4
        t = t - 2 * pot%a_pair * env**3 / pot%rc
      end if
      g = g + t * u
      fall(:, j) = fall(:, j) - g
      fall(:, i) = fall(:, i) + g
    end do
  end subroutine edge_forces

  ! One atom's energy from h1's scalars and t = m2 / n_avg, added to e, and
  ! dE/dm2. Invariants of t: its 3C scalars and the squared norms of its 4C
  ! vectors and 4C l = 2 blocks, each through tanh (a bounded energy). The
  ! vectors and l = 2 blocks come from paths such as 1o x 2e -> 1o and
  ! 2e x 2e -> 2e, so the energy is rotation invariant only if Y and oeq's
  ! Clebsch-Gordan coefficients follow the same convention (test_md_rotation.sh).
  subroutine readout(pot, h0, m2, e, dm2)
    type(potential_t), intent(in) :: pot
    real(dp), intent(in) :: h0(:), m2(:)
    real(dp), intent(inout) :: e
    real(dp), intent(out) :: dm2(:)
    real(dp) :: t(size(m2)), s, th
    integer :: nc, g, o, l
    nc = pot%nc
    t = m2 / pot%n_avg
    e = e + pot%k_ml * (dot_product(pot%p_out, h0) + sum(pot%q_out * tanh(t(1:3 * nc))))
    dm2(1:3 * nc) = pot%k_ml * pot%q_out * (1 - tanh(t(1:3 * nc))**2)
    do g = 1, 8 * nc
      ! Block g: 4C blocks of 3 after the scalars, then 4C blocks of 5.
      if (g <= 4 * nc) then
        l = 3
        o = 3 * nc + 3 * (g - 1)
      else
        l = 5
        o = 15 * nc + 5 * (g - 4 * nc - 1)
      end if
      s = sum(t(o + 1:o + l)**2)
      th = tanh(s)
      e = e + pot%k_ml * pot%r_out(g) * th
      dm2(o + 1:o + l) = pot%k_ml * pot%r_out(g) * (1 - th**2) * 2 * t(o + 1:o + l)
    end do
    dm2 = dm2 / pot%n_avg
  end subroutine readout

  ! h1 from s = m1 / n_avg (one atom). Blocks of s and h1 are [mul][2l+1]
  ! (oeq's mul_ir layout): component m of channel c of the block at offset
  ! o is at o + (c - 1) (2l+1) + m.
  subroutine node_update(pot, s, h)
    type(potential_t), intent(in) :: pot
    real(dp), intent(in) :: s(:)
    real(dp), intent(out) :: h(:)
    integer :: nc, c, k
    nc = pot%nc
    do c = 1, nc
      h(c) = tanh(dot_product(pot%a0(c, :), s(1:nc)) + pot%b0(c))
    end do
    h(nc + 1:) = 0
    do c = 1, nc
      do k = 1, nc
        h(nc + 3 * (c - 1) + 1:nc + 3 * c) = h(nc + 3 * (c - 1) + 1:nc + 3 * c) + &
            pot%a1(c, k) * s(nc + 3 * (k - 1) + 1:nc + 3 * k)
        h(4 * nc + 5 * (c - 1) + 1:4 * nc + 5 * c) = h(4 * nc + 5 * (c - 1) + 1:4 * nc + 5 * c) + &
            pot%a2(c, k) * s(4 * nc + 5 * (k - 1) + 1:4 * nc + 5 * k)
      end do
    end do
  end subroutine node_update

  ! ds = (dh1/ds)^T dh for the node update above (h holds its output).
  subroutine node_update_grad(pot, h, dh, ds)
    type(potential_t), intent(in) :: pot
    real(dp), intent(in) :: h(:), dh(:)
    real(dp), intent(out) :: ds(:)
    real(dp) :: g0(pot%nc)
    integer :: nc, c, k
    nc = pot%nc
    g0 = dh(1:nc) * (1 - h(1:nc)**2)
    do k = 1, nc
      ds(k) = dot_product(pot%a0(:, k), g0)
    end do
    ds(nc + 1:) = 0
    do c = 1, nc
      do k = 1, nc
        ds(nc + 3 * (k - 1) + 1:nc + 3 * k) = ds(nc + 3 * (k - 1) + 1:nc + 3 * k) + &
            pot%a1(c, k) * dh(nc + 3 * (c - 1) + 1:nc + 3 * c)
        ds(4 * nc + 5 * (k - 1) + 1:4 * nc + 5 * k) = ds(4 * nc + 5 * (k - 1) + 1:4 * nc + 5 * k) + &
            pot%a2(c, k) * dh(4 * nc + 5 * (c - 1) + 1:4 * nc + 5 * c)
      end do
    end do
  end subroutine node_update_grad
end module md_potential
